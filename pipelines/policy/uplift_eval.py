"""Held-out evaluation of arm-choosing policies: counterfactual scoring, policy values, uplift/Qini curves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pipelines.policy.choice import greedy_choice
from pipelines.warehouse.contract import HOLDOUT_CHANNEL

MESSAGE_PREFIX = "msg_"


class Estimator(Protocol):
    """Anything that predicts P(response) for raw rows: shape (n_rows,), probabilities."""

    def predict_proba(self, rows: pd.DataFrame) -> np.ndarray: ...


@dataclass(frozen=True)
class Action:
    """One arm of a logged experiment: a message on a channel, or the hold-out (message None)."""

    message_id: str | None
    channel: str

    @property
    def is_holdout(self) -> bool:
        return self.message_id is None

    @property
    def name(self) -> str:
        return "holdout" if self.is_holdout else f"{self.message_id}@{self.channel}"


def customer_split(
    customer_ids: pd.Series, *, validation_share: float, test_share: float, early_stop_share: float, seed: int
) -> np.ndarray:
    """Label each row by its customer: train / stop (early stopping) / validation (SPI) / test (reporting).

    Whole customers go to one side, so no evaluation ever sees a customer the models trained on.
    """
    unique = pd.Index(pd.unique(customer_ids))
    u = np.random.default_rng(seed).random(len(unique))
    train_share = 1.0 - validation_share - test_share
    label = np.where(
        u < train_share * (1 - early_stop_share),
        "train",
        np.where(u < train_share, "stop", np.where(u < train_share + validation_share, "validation", "test")),
    )
    return pd.Series(label, index=unique).reindex(customer_ids.to_numpy()).to_numpy()


def logged_actions(rows: pd.DataFrame) -> list[Action]:
    """The arms present in the log, hold-out first, then by message id and channel."""
    holdout = rows["channel"].eq(HOLDOUT_CHANNEL) | rows["message_id"].isna()
    treated = rows.loc[~holdout, ["message_id", "channel"]].drop_duplicates().sort_values(["message_id", "channel"])
    actions = [Action(None, HOLDOUT_CHANNEL)] if holdout.any() else []
    return actions + [Action(str(m), str(c)) for m, c in treated.itertuples(index=False)]


def action_index(rows: pd.DataFrame, actions: list[Action]) -> np.ndarray:
    """Index into ``actions`` of each row's logged action (−1 when the arm is not in the list)."""
    holdout = (rows["channel"].eq(HOLDOUT_CHANNEL) | rows["message_id"].isna()).to_numpy()
    out = np.full(len(rows), -1, dtype=np.int64)
    message = rows["message_id"].astype("object").to_numpy()
    channel = rows["channel"].astype("object").to_numpy()
    for k, action in enumerate(actions):
        if action.is_holdout:
            out[holdout] = k
        else:
            out[~holdout & (message == action.message_id) & (channel == action.channel)] = k
    return out


def counterfactual_rows(rows: pd.DataFrame, message_feats: pd.DataFrame, action: Action) -> pd.DataFrame:
    """The same customers and context, with the action (message attributes and channel) swapped in."""
    out = rows.copy()
    msg_cols = [c for c in out.columns if c.startswith(MESSAGE_PREFIX)]
    out["message_id"] = action.message_id
    out["channel"] = action.channel
    if "is_holdout" in out:
        out["is_holdout"] = action.is_holdout
    if action.is_holdout:
        for col in msg_cols:
            out[col] = None if out[col].dtype == object else np.nan
    else:
        found = message_feats[message_feats["message_id"] == action.message_id]
        if found.empty:
            raise KeyError(f"message {action.message_id} is not in the message features")
        for col in msg_cols:
            out[col] = found.iloc[0][col] if col in found else np.nan
    return out


def predict_actions(
    estimator: Estimator, rows: pd.DataFrame, message_feats: pd.DataFrame, actions: list[Action]
) -> np.ndarray:
    """P(response) of every row under every action: an array [n rows, n actions]."""
    return np.column_stack([estimator.predict_proba(counterfactual_rows(rows, message_feats, a)) for a in actions])


def greedy_policy(
    q: np.ndarray, holdout: int, min_uplift: float, action_cost: np.ndarray | None, *, inclusive: bool = True
) -> np.ndarray:
    """Per row the action of :func:`pipelines.policy.choice.greedy_choice` on predictions ``q`` [n, K].

    Uplift is q − q[:, holdout]; ``action_cost`` [K] is each action's channel cost (None = none); the
    best net uplift is chosen when it clears ``min_uplift`` (≥ when ``inclusive``), else the hold-out.
    """
    n, k = q.shape
    arms = np.array([a for a in range(k) if a != holdout], dtype=np.int64)
    uplift = (q[:, arms] - q[:, [holdout]]).ravel()
    cost = np.zeros(k) if action_cost is None else np.asarray(action_cost, dtype=float)
    best = greedy_choice(
        uplift, np.tile(cost[arms], n), np.repeat(np.arange(n), len(arms)), min_uplift, inclusive=inclusive
    )
    best = np.r_[best, np.full(n - len(best), -1, dtype=np.int64)]
    return np.where(best >= 0, arms[np.maximum(best, 0) % max(len(arms), 1)], holdout)


def one_hot(choice: np.ndarray, n_actions: int) -> np.ndarray:
    """A deterministic policy as action probabilities [n, n_actions]."""
    probs = np.zeros((len(choice), n_actions))
    probs[np.arange(len(choice)), choice] = 1.0
    return probs


# ---- uplift / Qini curves ---------------------------------------------------------------
def qini_curve(
    score: np.ndarray, treated: np.ndarray, control: np.ndarray, y: np.ndarray, points: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """Qini curve: incremental responders when targeting the top share by ``score``.

    Q(φ) = Y_T(φ) − Y_C(φ)·N_T(φ)/N_C(φ), on rows that got the arm (treated) or the hold-out
    (control), normalised by the number of those rows so arms of different sizes compare. Rows
    with equal scores are taken together (the curve has a point only where the score changes), so
    the curve does not depend on the order of rows; constant scores give the random line. Raises
    ``ValueError`` without treated or control rows (see :func:`uplift_curves`).
    """
    keep = treated | control
    if not treated[keep].any() or not control[keep].any():
        raise ValueError("a Qini curve needs treated and hold-out rows")
    s, t, yy = score[keep], treated[keep].astype(float), y[keep].astype(float)
    order = np.lexsort((yy, t, -s))  # by score, ties in a fixed order: the tie blocks below make it irrelevant
    s, t, yy = s[order], t[order], yy[order]
    n_t, n_c = np.cumsum(t), np.cumsum(1 - t)
    y_t, y_c = np.cumsum(yy * t), np.cumsum(yy * (1 - t))
    q = y_t - np.divide(y_c * n_t, n_c, out=np.zeros_like(y_c), where=n_c > 0)
    ends = np.r_[np.flatnonzero(s[1:] != s[:-1]), len(s) - 1]  # last row of each block of equal scores
    idx = ends[np.unique(np.linspace(0, len(ends) - 1, min(points, len(ends))).round().astype(int))]
    frac = np.r_[0.0, (idx + 1) / len(q)]
    return frac, np.r_[0.0, q[idx] / len(q)]


def qini_coefficient(frac: np.ndarray, q: np.ndarray) -> float:
    """Area between the Qini curve and the random-targeting line (positive = ranking beats random)."""
    random_line = frac * q[-1]
    return float(np.trapezoid(q - random_line, frac))


def uplift_curves(
    q_hat: np.ndarray, logged: np.ndarray, y: np.ndarray, actions: list[Action], holdout: int
) -> dict[str, dict[str, Any]]:
    """Qini curve and coefficient of every treated arm, ranked by its predicted uplift over hold-out.

    An arm never logged (or a log without hold-out rows) gets ``{"status": "not computed: …"}`` and
    no curve, instead of a coefficient of 0.
    """
    out: dict[str, dict[str, Any]] = {}
    for k, action in enumerate(actions):
        if k == holdout:
            continue
        treated, control = logged == k, logged == holdout
        if not treated.any() or not control.any():
            why = "the arm was never logged" if not treated.any() else "no hold-out rows"
            out[action.name] = {"status": f"not computed: {why}", "n_treated": int(treated.sum())}
            continue
        frac, q = qini_curve(q_hat[:, k] - q_hat[:, holdout], treated, control, y)
        out[action.name] = {"fraction": frac, "qini": q, "qini_coefficient": qini_coefficient(frac, q), "status": "ok"}
    return out


def plot_uplift_curves(curves: dict[str, dict[str, dict[str, Any]]], out_path: Path, title: str) -> Path:
    """One panel per arm, one line per model, with the random-targeting diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = sorted({arm for per_model in curves.values() for arm, c in per_model.items() if "qini" in c})
    fig, axes = plt.subplots(1, max(len(arms), 1), figsize=(6 * max(len(arms), 1), 4.2), squeeze=False)
    for ax, arm in zip(axes[0], arms):
        for model, per_arm in curves.items():
            c = per_arm.get(arm, {})
            if "qini" not in c:
                continue
            ax.plot(c["fraction"], c["qini"], label=f"{model} (Qini {c['qini_coefficient']:.4f})")
        last = next(p[arm] for p in curves.values() if "qini" in p.get(arm, {}))
        ax.plot([0, 1], [0, last["qini"][-1]], "--", color="grey", label="random targeting")
        ax.set(
            title=f"Qini: {arm} vs hold-out",
            xlabel="share targeted (by predicted uplift)",
            ylabel="incremental responders / customers",
        )
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=90)
    plt.close(fig)
    return out_path


def plot_policy_values(table: pd.DataFrame, out_path: Path, title: str) -> Path:
    """Policy values with their confidence intervals, one bar per policy and estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.45 * len(table) + 1.5))
    y = np.arange(len(table))
    for offset, est, color in ((-0.18, "ips", "tab:blue"), (0.18, "dr", "tab:orange")):
        value = table[est].to_numpy()
        err = np.vstack([value - table[f"{est}_ci_low"].to_numpy(), table[f"{est}_ci_high"].to_numpy() - value])
        ax.errorbar(value, y + offset, xerr=err, fmt="o", color=color, label=est.upper(), capsize=3)
    ax.set_yticks(y, table["policy"])
    ax.set(xlabel="estimated response rate on held-out customers", title=title)
    ax.legend()
    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=90)
    plt.close(fig)
    return out_path
