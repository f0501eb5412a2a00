"""The actions scoring weighs for each customer: every allowed message × channel × hour, and the hold-out."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from pipelines.config import HeraldConfig
from pipelines.policy.choice import allowed_channels, allowed_send_hours
from pipelines.warehouse.contract import HOLDOUT_CHANNEL


def candidate_rows(customers: pd.DataFrame, messages: pd.DataFrame, cfg: HeraldConfig, as_of: datetime) -> pd.DataFrame:
    """Every allowed (customer × message × consented channel × allowed hour) as raw model rows."""
    allowed = allowed_channels(customers, cfg)
    hours = np.asarray(allowed_send_hours(cfg.policy), dtype=np.int64)
    message_ids = messages["message_id"].to_numpy(dtype=object)
    weekday = pd.Timestamp(as_of).weekday()
    parts = []
    for channel in cfg.channels:
        who = customers["customer_id"].to_numpy(dtype=object)[allowed[channel].to_numpy()]
        if len(who) == 0 or len(message_ids) == 0 or len(hours) == 0:
            continue
        # Cartesian product built with repeat/tile: no merge, the grid is the hot path of scoring.
        n_m, n_h = len(message_ids), len(hours)
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": np.repeat(who, n_m * n_h),
                    "message_id": np.tile(np.repeat(message_ids, n_h), len(who)),
                    "send_hour": np.tile(hours, len(who) * n_m),
                    "channel": channel,
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype=object),
                "message_id": pd.Series(dtype=object),
                "send_hour": pd.Series(dtype="int64"),
                "channel": pd.Series(dtype=object),
                "weekday": pd.Series(dtype="int64"),
            }
        )
    grid = pd.concat(parts, ignore_index=True)
    grid["weekday"] = weekday
    return grid


def holdout_hour(cfg: HeraldConfig) -> int:
    """The local hour the hold-out action is scored at: the first allowed send hour.

    No message goes out, so the hour means nothing to the customer, but the model must see one it
    was trained on: logged hold-outs carry the hour of the send they stand beside (an imported
    experiment's mailing hour, the synthetic world's send hours), never the run's midnight.
    """
    hours = allowed_send_hours(cfg.policy)
    return hours[0] if hours else 0


def holdout_rows(customers: pd.DataFrame, cfg: HeraldConfig, as_of: datetime) -> pd.DataFrame:
    """The "send nothing" action of each customer, scored to measure uplift against."""
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "message_id": None,
            "channel": HOLDOUT_CHANNEL,
            "send_hour": holdout_hour(cfg),
            "weekday": pd.Timestamp(as_of).weekday(),
        }
    )


def candidate_positions(
    allowed: np.ndarray, n_messages: int, hours: list[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The grid of :func:`candidate_rows` as positions: (customer row, message row, send hour, channel index).

    Same order: channel by channel (config order), then customer, message, hour. ``allowed`` is the
    customer × channel consent matrix in config channel order.
    """
    hours_arr = np.asarray(hours, dtype=np.int64)
    n_m, n_h = n_messages, len(hours_arr)
    parts = []
    for j in range(allowed.shape[1]):
        who = np.flatnonzero(allowed[:, j])
        if len(who) == 0 or n_m == 0 or n_h == 0:
            continue
        parts.append(
            (
                np.repeat(who, n_m * n_h),
                np.tile(np.repeat(np.arange(n_m, dtype=np.int64), n_h), len(who)),
                np.tile(hours_arr, len(who) * n_m),
                np.full(len(who) * n_m * n_h, j, dtype=np.int64),
            )
        )
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, empty
    return tuple(np.concatenate(cols) for cols in zip(*parts))  # type: ignore[return-value]
