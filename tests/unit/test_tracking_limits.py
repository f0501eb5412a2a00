"""Texts Herald writes to MLflow fit the SQL stores' columns (PostgreSQL refuses longer values)."""

from __future__ import annotations

from pipelines.tracking import fit_markdown

CARD = "\n".join(
    [
        "# model v1",
        "intro",
        "## Chosen because",
        "x" * 900,
        "## Attributions",
        "a" * 1500,
        "## Policy value",
        "p" * 700,
        "## Protected attributes",
        "g" * 300,
    ]
)


def test_a_text_that_fits_is_unchanged() -> None:
    assert fit_markdown(CARD, 10_000, "the card") == CARD


def test_details_go_first_and_the_note_names_what_was_left_out() -> None:
    fitted = fit_markdown(CARD, 2500, "the artifact model_card.md", details=("Attributions",))
    assert len(fitted) <= 2500
    assert "## Attributions" not in fitted
    assert "## Chosen because" in fitted and "## Policy value" in fitted and "## Protected attributes" in fitted
    assert fitted.index("## Chosen because") < fitted.index("## Policy value")  # order kept
    assert fitted.endswith("limit: Attributions; see the artifact model_card.md.*")


def test_longest_sections_go_next_and_what_fits_again_is_put_back() -> None:
    fitted = fit_markdown(CARD, 1600, "the card", details=("Attributions",))
    assert len(fitted) <= 1600
    assert "## Attributions" not in fitted and "## Chosen because" not in fitted
    assert "## Policy value" in fitted and "## Protected attributes" in fitted
    assert "Chosen because, Attributions" in fitted


def test_text_without_sections_is_cut_at_a_line_break() -> None:
    fitted = fit_markdown("line\n" * 3000, 5000, "the log")
    assert len(fitted) <= 5000 and "\nline\n\n*Left out" in fitted and fitted.endswith("see the log.*")
