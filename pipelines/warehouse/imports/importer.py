"""`herald import`: read a mapping's sources, build the contract tables, write them, account for every row."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipelines.config import HeraldConfig, settings_file
from pipelines.warehouse import get_warehouse
from pipelines.warehouse.contract import INPUT_TABLES
from pipelines.warehouse.imports.mapping import Mapping, MappingError, load_mapping
from pipelines.warehouse.imports.sources import ROW_COLUMN, read_source
from pipelines.warehouse.imports.transform import TableImport, build_table

LEDGER_TABLE = "imports"
REJECTED_TABLE = "rejected_rows"
# Referenced tables first, so references can be checked against the rows actually kept.
ORDER = ("customers", "messages", "events", "sends", "reviews")
REFERENCES = (("events", "customer_id", "customers"), ("sends", "customer_id", "customers"))
REFERENCES += (("sends", "message_id", "messages"), ("reviews", "customer_id", "customers"))


@dataclass
class ImportReport:
    """What an import did: per table rows in = kept + rejected, notes (NULL columns, localised zones)."""

    mapping: str
    dataset: str
    warehouse: str
    tables: dict[str, dict[str, int]]
    notes: list[str] = field(default_factory=list)
    rejected_examples: dict[str, list[str]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    settings_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_mapping(
    cfg: HeraldConfig,
    path: str | Path,
    *,
    variables: dict[str, Any] | None = None,
    sources: dict[str, str | Path] | None = None,
    frames: dict[str, pd.DataFrame] | None = None,
    replace: bool = False,
) -> ImportReport:
    """Import the contract tables a mapping file describes into ``cfg``'s warehouse dataset.

    ``path`` is a mapping file or the name of one Herald ships (``gerber``, ``hillstrom``);
    ``variables`` override its ``${variables}``, ``sources`` its source paths, and ``frames`` hand
    in a source's rows directly (no file read). Each table is replaced whole; rows that cannot be
    coerced, break a key or point at a missing customer/message go to ``rejected_rows`` (run id
    ``import:<mapping>``) with their reasons. A table another mapping (or the synthetic world)
    wrote is only replaced with ``replace=True``. The mapping's ``settings`` are merged into
    ``HERALD_HOME/settings.yaml``, which every later Herald command reads.
    """
    mapping = load_mapping(path, variables)
    tables = build_tables(cfg, mapping, sources=sources, frames=frames)
    report = write_tables(cfg, mapping, tables, replace=replace)
    if mapping.settings:
        report.settings = mapping.settings
        report.settings_path = str(write_settings(cfg, mapping.settings))
    return report


def build_tables(
    cfg: HeraldConfig | None,
    mapping: Mapping,
    *,
    sources: dict[str, str | Path] | None = None,
    frames: dict[str, pd.DataFrame] | None = None,
) -> dict[str, TableImport]:
    """Every table of the mapping, in reference order, without writing anything.

    ``cfg`` may be None when every source comes in ``frames`` and no banner is mapped.
    """
    unknown = sorted((set(sources or {}) | set(frames or {})) - set(mapping.sources))
    if unknown:
        raise MappingError(f"mapping {mapping.name} has no source(s) {unknown}; it has {sorted(mapping.sources)}")
    read: dict[str, pd.DataFrame] = {}
    for name, frame in (frames or {}).items():
        read[name] = frame.reset_index(drop=True).copy()
        read[name].insert(0, ROW_COLUMN, pd.RangeIndex(1, len(frame) + 1))
    built: dict[str, TableImport] = {}
    for table in [t for t in ORDER if t in mapping.tables]:
        spec = mapping.tables[table]
        if spec.source is not None and spec.source not in read:
            if cfg is None:
                raise MappingError(f"mapping {mapping.name}: source {spec.source} must be handed in as a frame")
            read[spec.source] = read_source(cfg, mapping, spec.source, (sources or {}).get(spec.source))
        built[table] = build_table(mapping, table, spec, read.get(spec.source) if spec.source else None)
    for table, column, target in REFERENCES:
        if table in built and target in built and column in built[table].frame:
            values = built[table].frame[column]
            known = set(built[target].frame[str(INPUT_TABLES[target].key)].dropna())
            built[table].reject(values.notna() & ~values.isin(known), f"{column}: not among the imported {target}")
    if "messages" in built and built["messages"].frame.get("image_uri", pd.Series()).notna().any():
        if cfg is None:
            raise MappingError(f"mapping {mapping.name}: banner images need a config (where the assets go)")
        _banners(cfg, mapping, built["messages"])
    return built


def write_tables(
    cfg: HeraldConfig, mapping: Mapping, tables: dict[str, TableImport], replace: bool = False
) -> ImportReport:
    """Replace the tables, this mapping's rejected rows and its ledger rows, after checking ownership."""
    run_id = f"import:{mapping.name}"
    if cfg.warehouse_backend == "duckdb":
        cfg.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    now = pd.Timestamp(datetime.now(UTC))
    with get_warehouse(cfg, must_exist=False) as warehouse:
        present = set(warehouse.list_tables())
        owners = _owners(warehouse) if LEDGER_TABLE in present else {}
        foreign = {t: owners.get(t) for t in tables if t in present and owners.get(t) != mapping.name}
        if foreign and not replace:
            said = "; ".join(
                f"{t} ({'mapping ' + o if o else 'not written by herald import'})" for t, o in foreign.items()
            )
            raise MappingError(
                f"dataset {cfg.dataset} already holds table(s) this mapping did not import: {said}. "
                "Import into its own HERALD_HOME or HERALD_DATASET, or pass --replace to overwrite them"
            )
        counts = {}
        for name, ti in tables.items():
            warehouse.write(name, ti.frame.drop(columns=[ROW_COLUMN]), mode="truncate")
            counts[name] = {"rows_in": ti.rows_in, "kept": ti.kept, "rejected": len(ti.rejected)}
            assert ti.rows_in == ti.kept + len(ti.rejected), f"{name}: rows in must equal kept + rejected"
        warehouse.write(
            REJECTED_TABLE, _rejected_frame(run_id, tables, now), mode="replace_run", run_filter={"run_id": run_id}
        )
        ledger = pd.DataFrame(
            [
                {"mapping": mapping.name, "table_name": n, "source": str(mapping.path), "imported_at": now, **c}
                for n, c in counts.items()
            ]
        )
        warehouse.write(LEDGER_TABLE, ledger, mode="replace_run", run_filter={"mapping": mapping.name})
        stale = sorted(t for t in present & {"events", "reviews"} if t not in tables and owners.get(t) != mapping.name)
    notes = [n for ti in tables.values() for n in ti.notes]
    notes += [f"table {t} is still there from another source; it is not part of this import" for t in stale]
    examples = {
        name: [f"row {row}: {'; '.join(reasons)}" for row, reasons in list(ti.rejected.items())[:5]]
        for name, ti in tables.items()
        if ti.rejected
    }
    where = str(cfg.duckdb_path) if cfg.warehouse_backend == "duckdb" else f"BigQuery project {cfg.bigquery_project}"
    return ImportReport(mapping.name, cfg.dataset, where, counts, notes, examples)


def write_settings(cfg: HeraldConfig, settings: dict[str, Any]) -> Path:
    """Merge a mapping's settings into HERALD_HOME/settings.yaml (its keys replace earlier values)."""
    if {"home", "warehouse_path"} & set(settings):
        raise MappingError("a mapping's settings cannot move HERALD_HOME or the warehouse; set them in the environment")
    path = settings_file(cfg.home)
    current = yaml.safe_load(path.read_text()) if path.is_file() else {}
    merged = {**(current or {}), **settings}
    cfg.model_validate({**merged, "home": cfg.home})  # a bad setting fails here, not in the next run
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by `herald import`; every herald command with this HERALD_HOME reads it.\n"
        + yaml.safe_dump(merged, sort_keys=True)
    )
    return path


def _owners(warehouse: Any) -> dict[str, str]:
    ledger = warehouse.query("import_ledger")
    ledger = ledger.sort_values("imported_at")
    return dict(zip(ledger["table_name"], ledger["mapping"]))


def _rejected_frame(run_id: str, tables: dict[str, TableImport], now: pd.Timestamp) -> pd.DataFrame:
    records = []
    for name, ti in tables.items():
        if not ti.rejected:
            continue
        source = ti.source_rows.set_index(ROW_COLUMN)
        for row, reasons in sorted(ti.rejected.items()):
            values = source.loc[row]
            record = {k: (None if v is None or v != v else v) for k, v in values.to_dict().items()}
            records.append(
                {
                    "run_id": run_id,
                    "table_name": name,
                    "row_number": row,
                    "rule": "; ".join(reasons),
                    "row_json": json.dumps(record, default=str),
                    "rejected_at": now,
                }
            )
    frame = pd.DataFrame(records, columns=["run_id", "table_name", "row_number", "rule", "row_json", "rejected_at"])
    frame["row_number"] = frame["row_number"].astype("int64")
    frame["rejected_at"] = pd.to_datetime(frame["rejected_at"], utc=True)
    return frame


def _banners(cfg: HeraldConfig, mapping: Mapping, messages: TableImport) -> None:
    """Resolve banner images: gs:// stays (BigQuery mode); local files are copied under the asset folder."""
    bigquery = cfg.warehouse_backend == "bigquery"
    target_dir = cfg.assets_dir / "imports" / mapping.name
    uris = messages.frame["image_uri"].astype(object)
    out, bad = uris.copy(), pd.Series(False, index=uris.index)
    reasons: dict[int, str] = {}
    for i, uri in uris.items():
        if uri is None or uri != uri:
            continue
        text = str(uri)
        if "://" in text:
            if not (bigquery and text.startswith("gs://")):
                bad[i], reasons[i] = (
                    True,
                    f"image_uri: {text} is remote; only gs:// URIs with HERALD_WAREHOUSE_BACKEND=bigquery",
                )
            continue
        path = mapping.resolve(text)
        if not path.is_file():
            bad[i], reasons[i] = (
                True,
                f"image_uri: banner file {path} does not exist (paths are absolute or relative to {mapping.base_dir})",
            )
            continue
        if bigquery:
            bad[i], reasons[i] = (
                True,
                f"image_uri: {path} is a local file; upload it to gs:// for the BigQuery warehouse",
            )
            continue
        # A copy under the asset folder keeps the warehouse self-contained: the run reads HOME/assets only.
        name = f"{messages.frame.at[i, 'message_id']}{path.suffix.lower()}"
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target_dir / name)
        out[i] = f"imports/{mapping.name}/{name}"
    messages.frame["image_uri"] = out
    for i, reason in reasons.items():
        messages.rejected.setdefault(int(messages.frame.at[i, ROW_COLUMN]), []).append(reason)
    messages.frame = messages.frame[~bad].reset_index(drop=True)
