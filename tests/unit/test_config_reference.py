"""The README's configuration reference is generated from the config object and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from pipelines.cli.config_reference import END, START, reference_markdown, settings_rows
from pipelines.config import HeraldConfig

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_has_a_default_and_a_meaning() -> None:
    rows = settings_rows()
    names = [variable for variable, _, _ in rows]
    assert len(names) == len(set(names))
    assert {"HERALD_LABEL_WINDOW_DAYS", "HERALD_VALIDATION_MAX_EVENT_AGE_DAYS", "HERALD_DEEP__MAX_EPOCHS"} <= set(names)
    missing = [variable for variable, _, meaning in rows if not meaning.strip()]
    assert not missing, f"give these settings a Field(description=...) or a comment in pipelines/config/: {missing}"

    # Every leaf setting is there: top-level fields, and the fields of sections at any depth.
    def leaves(model: type) -> int:
        count = 0
        for field in model.model_fields.values():
            nested = getattr(field.annotation, "model_fields", None)
            count += leaves(field.annotation) if nested is not None else 1
        return count

    assert len(rows) == leaves(HeraldConfig)


def test_readme_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, "README.md lost its config-reference markers"
    current = text[text.index(START) : text.index(END) + len(END)] + "\n"
    assert current == reference_markdown(), "README.md is stale: run `herald config-reference --write README.md`"
