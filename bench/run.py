"""`make bench [SECTION=name]`: run benchmark sections and write bench/results/<section>.json."""

from __future__ import annotations

import importlib
import os
import traceback
from typing import Annotated

import typer
from rich.console import Console

from bench.common import write_result
from pipelines.config import load_config

SECTIONS = (
    "quality",
    "sequence",
    "training",
    "policy",
    "scoring",
    "hillstrom",
    "own_data",
    "generalisation",
    "statistics",
)
console = Console()


def main(
    section: Annotated[str, typer.Option(help=f"one of {', '.join(SECTIONS)} or all")] = "all",
    worlds: Annotated[int, typer.Option(help="generalisation: run only the first N worlds (a smoke run)")] = 0,
) -> None:
    """Run the chosen sections on the default synthetic world (HERALD_WORLD__SIZE to change it)."""
    if worlds:
        os.environ["HERALD_BENCH_WORLDS"] = str(worlds)
    # Benchmarks get their own state so they never disturb the demo's .herald/.
    os.environ.setdefault("HERALD_HOME", str(load_config().home.parent / ".herald-bench"))
    cfg = load_config()
    chosen = SECTIONS if section == "all" else (section,)
    for name in chosen:
        if name not in SECTIONS:
            raise typer.BadParameter(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")
        console.rule(f"bench: {name}")
        try:
            module = importlib.import_module(f"bench.{name}")
            body = module.run(cfg)
        except ModuleNotFoundError as exc:
            body = {"error": f"section not implemented yet ({exc.name})"}
        except Exception as exc:  # a section that cannot run says why instead of inventing numbers
            body = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=5)}
        path = write_result(name, cfg, body)
        console.print_json(path.read_text())


if __name__ == "__main__":
    typer.run(main)
