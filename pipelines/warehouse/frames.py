"""Backend-neutral frame handling: Arrow results to pandas with one set of dtypes, bound values, run filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.errors import WarehouseError

# Same choices as google-cloud-bigquery's to_dataframe defaults: nullable BOOL/INT64 stay nullable
# instead of decaying to object/float64 when a batch holds a NULL.
_NULLABLE = {
    pa.bool_(): pd.BooleanDtype(),
    pa.int8(): pd.Int64Dtype(),
    pa.int16(): pd.Int64Dtype(),
    pa.int32(): pd.Int64Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.Int64Dtype(),
    pa.uint16(): pd.Int64Dtype(),
    pa.uint32(): pd.Int64Dtype(),
}


def arrow_to_pandas(data: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """Convert an Arrow table or batch; timestamps with a zone stay tz-aware (UTC), dates are ``datetime.date``."""
    return data.to_pandas(types_mapper=_NULLABLE.get)


def plain_value(value: Any) -> Any:
    """Turn numpy/pandas scalars into the Python values drivers bind (np.int64 -> int, Timestamp -> datetime)."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.ndarray):
        return [plain_value(v) for v in value.tolist()]
    if hasattr(value, "item") and not isinstance(value, (list, tuple, str, bytes)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


def with_run_filter(table: str, frame: pd.DataFrame, run_filter: Mapping[str, Any] | None) -> pd.DataFrame:
    """Check that every row belongs to the run being replaced; add filter columns the frame lacks."""
    if not run_filter:
        raise WarehouseError(f"replace_run on {table} needs a run_filter such as {{'run_id': ...}}")
    frame = frame.copy(deep=False)
    for col, value in run_filter.items():
        if value is None:
            raise WarehouseError(f"run_filter value for {col} must not be None")
        if col not in frame.columns:
            frame[col] = value
        elif len(frame) and not (frame[col] == value).all():
            # Rows of another run would survive the next re-run's DELETE and break idempotency.
            raise WarehouseError(f"rows written to {table} must all have {col} = {value!r} (the run_filter)")
    return frame
