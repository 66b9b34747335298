"""The normalized document: field order, derived text and content hash.

A document is a plain dict that validates against schema/document.schema.json. The
"normalized text" (what `content_sha256` hashes, what annotators see and what evidence-span
offsets point into) is derived here and nowhere else.
"""

from __future__ import annotations

import hashlib
from typing import Any

Document = dict[str, Any]

FIELDS: tuple[str, ...] = (
    "id",
    "title",
    "summary",
    "section",
    "source",
    "published_at",
    "modified_at",
    "language",
    "paragraphs",
    "credits",
    "related",
    "content_sha256",
    "raw_path",
)
# Present only when there is something to say: the boilerplate lines `--strip` dropped.
OPTIONAL_FIELDS: tuple[str, ...] = ("removed_lines",)


def body_text(doc: Document) -> str:
    """The body as annotators see it: each subheading once, on its own line, before its paragraphs;
    blocks separated by a blank line. Span offsets in annotations index into this string."""
    blocks: list[str] = []
    heading: str | None = None
    for paragraph in doc["paragraphs"]:
        if paragraph["heading"] is not None and paragraph["heading"] != heading:
            blocks.append(paragraph["heading"])
        heading = paragraph["heading"]
        blocks.append(paragraph["text"])
    return "\n\n".join(blocks)


def content_text(doc: Document) -> str:
    """Headline, standfirst and body: the text whose change makes annotations stale."""
    return "\n\n".join([doc["title"], doc.get("summary") or "", body_text(doc)])


def content_sha256(doc: Document) -> str:
    return hashlib.sha256(content_text(doc).encode("utf-8")).hexdigest()


def ordered(doc: Document) -> Document:
    """The document with its fields in schema order (stable JSON output and Parquet columns)."""
    return {name: doc[name] for name in FIELDS if name in doc} | {
        key: value for key, value in doc.items() if key not in FIELDS
    }
