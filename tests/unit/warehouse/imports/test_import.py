"""`herald import`: a CRM-like export and the Gerber sample reach the contract; every row is accounted for."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from crm_export import DST_GAP, write_crm_export

from pipelines.config import HeraldConfig, load_config
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.imports import MappingError, import_mapping, load_mapping

GERBER_SAMPLE = Path(__file__).resolve().parents[3] / "data" / "gerber_sample.csv"


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HeraldConfig:
    monkeypatch.setenv("HERALD_HOME", str(tmp_path / "home"))
    return load_config()


def _rows(cfg: HeraldConfig, sql: str) -> list[tuple]:
    with duckdb.connect(str(cfg.duckdb_path), read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.sql(sql).fetchall()


def test_crm_export_reaches_the_contract(cfg: HeraldConfig, tmp_path: Path) -> None:
    mapping = write_crm_export(tmp_path / "export")
    report = import_mapping(cfg, mapping)

    for name, counts in report.tables.items():
        assert counts["rows_in"] == counts["kept"] + counts["rejected"], name
    assert report.tables["customers"] == {"rows_in": 301, "kept": 300, "rejected": 1}
    assert report.tables["sends"]["rejected"] == 3 and report.tables["messages"]["kept"] == 4
    with get_warehouse(cfg) as wh:
        customers, sends = wh.describe("customers"), wh.describe("sends")
        assert customers["consent_email"] == "BOOL" and customers["loyalty_score"] == "INT64"  # the extra column
        assert customers["updated_at"] == "TIMESTAMP" and sends["sent_at"] == "TIMESTAMP"
        assert wh.describe("events")["event_ts"] == "TIMESTAMP"
    # Naive London wall-clock times, localised: 10:00 BST on 1 March is GMT, so 10:00 UTC.
    assert _rows(cfg, "SELECT DISTINCT CAST(updated_at AS VARCHAR) FROM herald.customers") == [
        ("2026-03-01 10:00:00+00",)
    ]
    assert any("naive timestamps read as Europe/London" in n for n in report.notes)
    # Yes/No became BOOL; upper-case values were mapped onto the contract's channel names.
    assert set(_rows(cfg, "SELECT DISTINCT channel FROM herald.sends")) == {("email",), ("sms",), ("none",)}
    # Banners given as absolute paths were copied under the asset folder and named relative to it.
    uris = [u for (u,) in _rows(cfg, "SELECT image_uri FROM herald.messages ORDER BY message_id")]
    assert uris == [f"imports/crm/M{i}.png" for i in range(4)]
    assert all((cfg.assets_dir / u).is_file() for u in uris)

    rejected = _rows(cfg, "SELECT table_name, row_number, rule, row_json FROM herald.rejected_rows ORDER BY 1, 2")
    reasons = {(t, r): rule for t, r, rule, _ in rejected}
    assert "customer_id: repeats an earlier row's key" in reasons[("customers", 301)]
    assert "'Maybe' is not in the value map" in reasons[("sends", 6)]
    assert f"'{DST_GAP}' does not exist or is ambiguous in Europe/London" in reasons[("sends", 7)]
    assert reasons[("sends", 8)] == "message_id: not among the imported messages"
    assert json.loads(rejected[-1][3])["CONVERTED"] in ("Yes", "No")

    # A re-import replaces what this mapping wrote: same counts, no duplicates, one ledger row per table.
    again = import_mapping(cfg, mapping)
    assert again.tables == report.tables
    assert _rows(cfg, "SELECT count(*) FROM herald.sends") == [(report.tables["sends"]["kept"],)]
    assert _rows(cfg, "SELECT count(*) FROM herald.rejected_rows") == [(len(rejected),)]
    assert _rows(cfg, "SELECT count(*) FROM herald.imports WHERE mapping = 'crm'") == [(4,)]
    # The mapping's settings are read by every later command on this HERALD_HOME.
    assert load_config().channels == ["email", "sms"]


def test_gerber_sample_imports_through_its_mapping(cfg: HeraldConfig) -> None:
    report = import_mapping(cfg, "gerber", sources={"people": GERBER_SAMPLE})
    assert report.tables == {
        "customers": {"rows_in": 4000, "kept": 4000, "rejected": 0},
        "messages": {"rows_in": 4, "kept": 4, "rejected": 0},
        "sends": {"rows_in": 4000, "kept": 4000, "rejected": 0},
    }
    arms = _rows(
        cfg, "SELECT message_id, channel, count(*), min(propensity), max(propensity) FROM herald.sends GROUP BY ALL"
    )
    by_arm = {m: (c, n, lo, hi) for m, c, n, lo, hi in arms}
    # The hold-out is " Control" (leading space in the file); its propensity is its share of the rows.
    assert by_arm[None][:2] == ("none", 2218) and by_arm[None][2] == pytest.approx(2218 / 4000)
    assert by_arm["gerber_neighbors"][:2] == ("mail", 468) and by_arm["gerber_neighbors"][3] == pytest.approx(
        468 / 4000
    )
    voted = _rows(cfg, "SELECT count(*) FILTER (WHERE converted) FROM herald.sends")[0][0]
    assert voted == 1216
    assert _rows(
        cfg,
        "SELECT min(sent_at) >= TIMESTAMPTZ '2006-07-24 13:00:00+00', "
        "max(sent_at) < TIMESTAMPTZ '2006-07-29 00:00:00+00' FROM herald.sends",
    ) == [(True, True)]
    # p2004's capitalised No/Yes and the other yes/no columns are all BOOL now.
    with get_warehouse(cfg) as wh:
        types = wh.describe("customers")
    assert {types[c] for c in ("g2000", "p2002", "p2004")} == {"BOOL"} and types["hh_size"] == "INT64"
    reloaded = load_config()
    assert reloaded.channels == ["mail"] and reloaded.implied_consent_channels == ["mail"]


def test_every_source_format_reads_the_same_rows(cfg: HeraldConfig, tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "title": ["one", "two"], "start": ["2026-01-01", "2026-01-02"]})
    frame.to_csv(tmp_path / "m.csv", index=False)
    frame.to_parquet(tmp_path / "m.parquet", index=False)
    with duckdb.connect(str(tmp_path / "m.duckdb")) as con:
        con.register("f", frame)
        con.execute("CREATE TABLE catalogue AS SELECT * FROM f")
    with sqlite3.connect(tmp_path / "m.sqlite") as con:
        frame.to_sql("catalogue", con, index=False)
    for source in (
        "{path: m.csv}",
        "{path: m.parquet}",
        "{path: m.duckdb, table: catalogue}",
        "{path: m.sqlite, table: catalogue}",
    ):
        mapping = tmp_path / "m.yaml"
        mapping.write_text(
            f"name: formats\nsources:\n  m: {source}\ntables:\n  messages:\n    source: m\n"
            "    columns: {message_id: id, title: title, active_from: start}\n"
        )
        report = import_mapping(cfg, mapping, replace=True)
        assert report.tables["messages"] == {"rows_in": 2, "kept": 2, "rejected": 0}, source
        assert _rows(cfg, "SELECT message_id, title, CAST(active_from AS VARCHAR) FROM herald.messages ORDER BY 1") == [
            ("a", "one", "2026-01-01"),
            ("b", "two", "2026-01-02"),
        ]


def test_another_sources_tables_are_not_overwritten_silently(cfg: HeraldConfig, tmp_path: Path) -> None:
    with get_warehouse(cfg, must_exist=False) as wh:
        wh.write("customers", pd.DataFrame({"customer_id": ["w1"]}))
    with pytest.raises(MappingError, match="customers .not written by herald import.*--replace"):
        import_mapping(cfg, "gerber", sources={"people": GERBER_SAMPLE})
    assert (
        import_mapping(cfg, "gerber", sources={"people": GERBER_SAMPLE}, replace=True).tables["customers"]["kept"]
        == 4000
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\ntables:\n  purchases: {rows: []}\n", r"unknown table\(s\) \['purchases'\]"),
        ("name: x\ntables:\n  messages: {source: nowhere}\n", "reads source 'nowhere', which sources does not define"),
        ("name: x\nsources: {s: {path: a.xlsx}}\ntables: {}\n", "cannot tell the format of a.xlsx"),
        ("name: x\nsources: {s: {path: '${dir}/a.csv'}}\ntables: {}\n", r"\$\{dir\} is used but not defined"),
        (
            "name: x\ntables:\n  messages: {rows: [], columns: {title: {column: a, value: b}}}\n",
            "exactly one of column, value",
        ),
        ("name: [x\n", "not valid YAML"),
    ],
)
def test_bad_mapping_files_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(MappingError, match=expected) as info:
        load_mapping(path)
    assert str(path) in str(info.value)


def test_a_missing_source_column_or_file_says_what_there_is(cfg: HeraldConfig, tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("ID,TITLE\na,one\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "name: m\nsources: {m: {path: m.csv}}\ntables:\n  messages: {source: m, columns: {message_id: MSG_ID}}\n"
    )
    with pytest.raises(
        MappingError, match=r"column message_id: the source has no column 'MSG_ID' \(it has ID, TITLE\)"
    ):
        import_mapping(cfg, mapping)
    with pytest.raises(MappingError, match="does not exist; fix sources.m.path .* or pass --source m=PATH"):
        import_mapping(cfg, mapping, sources={"m": tmp_path / "gone.csv"})
