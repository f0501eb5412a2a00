"""Errors a user can fix; each message says what is wrong, where, and what to do."""

from __future__ import annotations


class HeraldError(Exception):
    """Base class: the CLI prints these as one line instead of a traceback."""


class ConfigError(HeraldError):
    """A configuration value is missing, unreadable or contradictory."""


class WarehouseError(HeraldError):
    """The warehouse (file, dataset, table or column) is not what the contract expects."""


class DataValidationError(HeraldError):
    """An extract broke a Great Expectations rule; the report path is in the message."""


class RegistryError(HeraldError):
    """MLflow is unreachable, or the registered model/alias asked for does not exist."""


class RegistryUnavailable(RegistryError):
    """The MLflow server did not answer or went away mid-call: transient, so the task keeps its retries."""


class ModelInputError(HeraldError):
    """Scoring data does not match what the champion model was trained on."""


class RowAccountingError(HeraldError):
    """A step's rows in differ from kept + rejected + out of scope: rows were lost or doubled."""
