"""The Label Studio labelling config (XML), generated from the taxonomy and never edited by hand.

Names other modules rely on (results.py maps them back to annotation rows):
- `<Text name="text" value="$text"/>`: the body as plain text (never HyperText, so nothing in an
  article can run in the annotator's browser); headline, standfirst, source, section and dates
  are shown above it from task data `$title`, `$summary`, `$source_name`, `$section`,
  `$published_at`, `$modified_at` (never `$source`, which Label Studio's editor overwrites);
- `stance_<target id>`: single-choice, required; each `<Choice value="<name>" alias="<value id>">`
  (Label Studio stores the alias, not the displayed value, in results);
- `topics`: multi-choice, `alias` = topic id;
- `evidence`: `<Labels>` on the text, one `<Label alias="<target id>">` per target;
- `speaker`: per-region text box for the speaker of a quoted evidence span;
- `note`: free text.

Right to left: Label Studio (1.2x) takes a View's `style` and `className` literally, never from task
data, so one project's config cannot switch direction per task. The document's Views (headline,
standfirst, body) instead lay out every paragraph by its own first strong character
(`unicode-bidi: plaintext`, `text-align: start`, what HTML's `dir="auto"` does): an Arabic, Hebrew,
Persian or Urdu paragraph reads right to left, an English one left to right, in the same project.
Only the layout changes: the text, and so every evidence offset, stays the same characters. Task data
carries `language` and `direction` as well (corpuskit.studio.push.plan.task_data).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from corpuskit.taxonomy.model import Taxonomy

TEXT = "text"
TOPICS = "topics"
EVIDENCE = "evidence"
SPEAKER = "speaker"
NOTE = "note"
STANCE_PREFIX = "stance_"

# Task data keys shown above the body (docs/data-model.md); each Header shows one key alone so that
# a null value renders as nothing rather than the word "null". Not `$source`: Label Studio 1.23's
# editor replaces `source` in the task data with the whole task as JSON (annotations included), so
# the source travels as `source_name` for display (docs/taxonomy.md).
SOURCE_DISPLAY_KEY = "source_name"
_META_KEYS = (SOURCE_DISPLAY_KEY, "section", "published_at", "modified_at")

_MUTED = "color: #555; font-size: 13px; margin: 0 1.2em 0 0; font-weight: normal"

# The class of the Views that hold document text, and the rules that give each of their paragraphs
# its own direction. A Header is an h1-h6; the body is a div of one `lsf-richtext__line` span per
# paragraph, which Label Studio's CSS makes an inline-block as wide as its text: stretched to the
# full width, a right-to-left line can align to the right edge (else every line sits at the left).
DOCUMENT_CLASS = "corpuskit-document"
_BIDI = "unicode-bidi: plaintext; text-align: start;"
_BIDI_STYLE = (
    ", ".join(f".{DOCUMENT_CLASS} {element}" for element in ("div", "h1", "h2", "h3", "h4", "h5", "h6"))
    + f" {{ {_BIDI} }}\n"
    + f".{DOCUMENT_CLASS} .lsf-richtext__line {{ {_BIDI} width: 100%; box-sizing: border-box; }}"
)


def stance_control(target_id: str) -> str:
    return f"{STANCE_PREFIX}{target_id}"


def label_config(taxonomy: Taxonomy) -> str:
    """The labelling config for `taxonomy` as an XML string (deterministic: same taxonomy, same bytes)."""
    view = ET.Element("View")
    ET.SubElement(view, "Style").text = _BIDI_STYLE
    head = ET.SubElement(view, "View", className=DOCUMENT_CLASS)
    ET.SubElement(head, "Header", value="$title", size="2")
    meta = ET.SubElement(head, "View", style="display: flex; flex-wrap: wrap; margin-bottom: 0.5em")
    for key in _META_KEYS:
        ET.SubElement(meta, "Header", value=f"${key}", size="5", style=_MUTED)
    ET.SubElement(head, "Header", value="$summary", size="5", style="font-style: italic; margin: 0.5em 0")

    if taxonomy.evidence.enabled:
        labels = ET.SubElement(view, "Labels", name=EVIDENCE, toName=TEXT, showInline="true")
        for target in taxonomy.targets:
            attrs = {"value": f"Evidence: {target.name}", "alias": target.id, "background": "#ffd54f"}
            if target.evidence_hotkey:
                attrs["hotkey"] = target.evidence_hotkey
            ET.SubElement(labels, "Label", attrs)

    body = ET.SubElement(view, "View", className=DOCUMENT_CLASS)
    ET.SubElement(body, "Text", name=TEXT, value="$text", granularity="symbol")

    if taxonomy.evidence.enabled and taxonomy.evidence.speaker:
        # Shown when an evidence region is selected; LS keys the answer by the region's id.
        box = ET.SubElement(view, "View", visibleWhen="region-selected")
        ET.SubElement(
            box, "Header", value="Speaker of the selected quote (leave empty if not a quote)", size="5"
        )
        ET.SubElement(
            box,
            "TextArea",
            name=SPEAKER,
            toName=TEXT,
            perRegion="true",
            maxSubmissions="1",
            editable="true",
            rows="1",
            placeholder="e.g. Yoon Suk Yeol",
        )

    for target in taxonomy.targets:
        block = ET.SubElement(view, "View", style="margin-top: 1em")
        ET.SubElement(block, "Header", value=f"Stance: {target.name}", size="4")
        ET.SubElement(block, "Header", value=target.definition, size="5", style=_MUTED)
        choices = ET.SubElement(
            block,
            "Choices",
            name=stance_control(target.id),
            toName=TEXT,
            choice="single",
            required="true" if target.required else "false",
            # Without it Label Studio names the control ("stance_<id>") in the warning.
            requiredMessage=f"Choose a stance for {target.name}: this block is required.",
            showInline="true",
        )
        for value in taxonomy.stance_values:
            attrs = {"value": value.name, "alias": value.id, "hint": value.definition}
            if value.id in target.hotkeys:
                attrs["hotkey"] = target.hotkeys[value.id]
            ET.SubElement(choices, "Choice", attrs)

    block = ET.SubElement(view, "View", style="margin-top: 1em")
    ET.SubElement(block, "Header", value="Topics (all that apply)", size="4")
    topics = ET.SubElement(block, "Choices", name=TOPICS, toName=TEXT, choice="multiple", showInline="true")
    for topic in taxonomy.topics:
        attrs = {"value": topic.name, "alias": topic.id, "hint": topic.definition}
        if topic.hotkey:
            attrs["hotkey"] = topic.hotkey
        ET.SubElement(topics, "Choice", attrs)

    if taxonomy.note.enabled:
        block = ET.SubElement(view, "View", style="margin-top: 1em")
        ET.SubElement(block, "Header", value="Note (optional)", size="4")
        ET.SubElement(
            block, "TextArea", name=NOTE, toName=TEXT, rows="2", maxSubmissions="1", editable="true"
        )

    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode") + "\n"


def label_interface(taxonomy: Taxonomy) -> object:
    """The SDK's parsed view of the generated config (`label_studio_sdk.label_interface.LabelInterface`)."""
    from label_studio_sdk.label_interface.interface import LabelInterface

    return LabelInterface(label_config(taxonomy))
