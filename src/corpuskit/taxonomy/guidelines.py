"""The annotation guidelines as Label Studio project instructions (`expert_instruction`, HTML).

The label definitions come from the taxonomy and the how-to from docs/annotation-guidelines.md,
so annotators read the same definitions the dataset card and the schema use. Label Studio renders
the instructions as HTML: every piece of text is escaped, and raw HTML in the Markdown is shown as
text, never run.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from corpuskit.errors import UsageError
from corpuskit.settings import Settings
from corpuskit.taxonomy.model import Taxonomy

# The `guidelines` setting's default, declared once in corpuskit.settings.
DEFAULT_GUIDELINES: str = Settings.guidelines


def definitions_html(taxonomy: Taxonomy) -> str:
    """The targets, stance values and topics with their definitions, as HTML tables."""
    parts = [f"<h2>Labels (taxonomy {escape(taxonomy.version)})</h2>"]

    def table(title: str, rows: list[tuple[str, str, str]]) -> None:
        parts.append(f"<h3>{escape(title)}</h3>")
        parts.append("<table><thead><tr><th>Label</th><th>Key</th><th>Definition</th></tr></thead><tbody>")
        for name, key, definition in rows:
            parts.append(
                f"<tr><td><b>{escape(name)}</b></td><td>{escape(key)}</td><td>{escape(definition)}</td></tr>"
            )
        parts.append("</tbody></table>")

    table(
        "Stance targets",
        [
            (t.name, " ".join(t.hotkeys.get(v, "") for v in taxonomy.stance_value_ids).strip(), t.definition)
            for t in taxonomy.targets
        ],
    )
    table("Stance values", [(v.name, "", v.definition) for v in taxonomy.stance_values])
    table("Topics", [(t.name, t.hotkey or "", t.definition) for t in taxonomy.topics])
    if taxonomy.evidence.enabled:
        table(
            "Evidence spans",
            [
                (f"Evidence: {t.name}", t.evidence_hotkey or "", taxonomy.evidence.definition)
                for t in taxonomy.targets
            ],
        )
    if taxonomy.note.enabled:
        table("Note", [("Note", "", taxonomy.note.definition)])
    return "\n".join(parts)


def markdown_html(markdown: str) -> str:
    """CommonMark (plus tables) to HTML with raw HTML escaped."""
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    html: str = renderer.render(markdown)
    return html


def guidelines_html(taxonomy: Taxonomy, path: str | Path | None = DEFAULT_GUIDELINES) -> str:
    """Project instructions: the label definitions from the taxonomy, then the guidelines at `path`
    (Markdown; None for definitions only)."""
    parts = [definitions_html(taxonomy)]
    if path is not None:
        path = Path(path)
        try:
            parts.append(markdown_html(path.read_text(encoding="utf-8")))
        except FileNotFoundError as exc:
            raise UsageError(f"{path}: annotation guidelines not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read the annotation guidelines: {exc}") from exc
    return "\n".join(parts)
