"""Fairness: the injected bias is named by group; an unbiased world raises nothing."""

from __future__ import annotations

from pipelines.monitoring.fairness import fairness_from_tables
from pipelines.synthetic import BIASED_GROUP

from .conftest import T, world, write_tables


def test_unbiased_world_raises_no_fairness_breach(cfg) -> None:
    w = world()
    result = fairness_from_tables(cfg, "fair-0", w.customers, w.messages, T)
    assert result.metrics_written > 0
    assert not result.breached, result.breaches


def test_injected_bias_names_the_group(cfg) -> None:
    w = world(bias=1.0)
    write_tables(cfg, w.tables())
    result = fairness_from_tables(cfg, "fair-1", w.customers, w.messages, T)
    group = f"{BIASED_GROUP['column']}={BIASED_GROUP['value']}"
    assert result.breached
    assert any(b.startswith(group) for b in result.breaches), result.breaches
    # Only the biased attribute breaches: age band and region are treated alike.
    assert all(b.startswith(f"{BIASED_GROUP['column']}") for b in result.breaches), result.breaches
    assert result.report_path and group in open(result.report_path).read()
