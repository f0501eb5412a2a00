"""Tasks of ``herald_forget``: forget the customers of a request, then prove nothing names them any more."""

from __future__ import annotations

from typing import Any

from pipelines.config import load_config


def forget_customers(customer_ids: list[str], request_id: str | None, actor: str | None) -> dict[str, Any]:
    """Suppress the customers and erase them from everything Herald wrote; returns the counts."""
    from pipelines.warehouse.forget import forget_customers as forget

    return forget(load_config(), list(customer_ids), request_id, actor).to_dict()


def find_traces(customer_ids: list[str]) -> list[str]:
    """Raise if any output, run file or report still names one of the customers."""
    from pipelines.errors import HeraldError
    from pipelines.warehouse.forget import find_traces as traces

    found = traces(load_config(), list(customer_ids))
    if found:
        raise HeraldError(f"forgotten customers still appear in {len(found)} place(s): {found[:5]}")
    return found
