"""Row accounting through the warehouse: rows a query would drop are extracted, rejected and counted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.errors import RowAccountingError
from pipelines.validation.accounting import RowCount, check
from pipelines.validation.gate import validate
from pipelines.warehouse.extract import extract
from tests.unit.validation.conftest import NOW


def test_sends_without_sent_at_are_rejected_and_counted_not_lost(clean_world, tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(clean_world.db, db)
    cfg = clean_world.config(tmp_path / "home").model_copy(update={"warehouse_path": db})
    with duckdb.connect(str(db)) as con:
        total = con.execute("SELECT count(*) FROM herald.sends").fetchone()[0]
        nulled = [r[0] for r in con.execute("SELECT send_id FROM herald.sends ORDER BY send_id LIMIT 4").fetchall()]
        con.execute("UPDATE herald.sends SET sent_at = NULL WHERE send_id IN (SELECT unnest(?))", [nulled])

    extracted = extract(cfg, "null_sent_at", "scoring", NOW).to_dict()
    sends = extracted["accounting"]["sends"]
    assert sends["source_rows"] == total and sends["no_timestamp"] == 4
    assert sends["extracted"] == sends["in_window"] + 4
    assert sends["source_rows"] == sends["extracted"] + sends["out_of_window"]

    result = validate(cfg, "null_sent_at", extracted, purpose="scoring")
    counts = result["tables"]["sends"]
    assert counts["rejected"] == 4 and counts["rows_in"] == counts["kept"] + 4 == sends["extracted"]
    assert len(pd.read_parquet(result["paths"]["sends"])) == counts["kept"]
    assert f"sends @ validate: {sends['extracted']} in = {counts['kept']} kept + 4 rejected" in " ".join(
        result["row_accounting"]
    )

    with duckdb.connect(str(db), read_only=True) as con:
        rejected = con.execute("SELECT * FROM herald.rejected_rows WHERE run_id = 'null_sent_at'").df()
        metrics = con.execute(
            "SELECT subject, metric, value FROM herald.monitoring_metrics WHERE run_id = 'null_sent_at'"
            " AND kind = 'row_accounting'"
        ).df()
    assert sorted(rejected["row_key"]) == sorted(nulled)
    assert set(rejected["table_name"]) == {"sends"} and set(rejected["rule"]) == {"sent_at_not_null"}
    assert rejected["reason"].str.startswith("sends.sent_at = NULL breaks sent_at_not_null").all()
    value = metrics.set_index(["subject", "metric"])["value"]
    assert value[("validate", "sends.rejected")] == 4
    assert value[("extract", "sends.rows_in")] == total
    assert value[("extract", "sends.kept")] + value[("extract", "sends.out_of_scope")] == total
    report = json.loads(Path(result["report"]["json"]).read_text())
    assert {(e["step"], e["table"]) for e in report["row_accounting"]} >= {("extract", "sends"), ("validate", "sends")}


def test_an_unbalanced_step_is_an_error_naming_it() -> None:
    check([RowCount("validate", "sends", 10, kept=6, rejected=4)])
    with pytest.raises(RowAccountingError, match=r"sends @ validate: 10 in = 5 kept \+ 4 rejected"):
        check([RowCount("validate", "sends", 10, kept=5, rejected=4)])
