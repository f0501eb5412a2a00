"""The data-validation gate's parts: GX suites, pandas-side rules, quarantine, reports and volume history."""

from pipelines.validation.results import RuleResult

__all__ = ["RuleResult"]
