"""The ``herald`` command: own data in, the DAGs run, the UIs up, and what Herald decided and why.

Commands live by job in this package; importing it registers them all on one Typer app.
"""

from __future__ import annotations

import sys

import click

from pipelines.cli import data, hillstrom, records, runs, summary, ui  # noqa: F401 - registers the commands
from pipelines.cli.common import app, console
from pipelines.errors import HeraldError


def main() -> None:
    """The ``herald`` entry point: Herald's errors end in one red line, not a traceback."""
    try:
        code = app(standalone_mode=False)
        # Without standalone mode click returns typer.Exit's code instead of exiting with it.
        if isinstance(code, int) and code:
            sys.exit(code)
    except HeraldError as exc:
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
