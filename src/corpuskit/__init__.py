"""corpuskit: raw news texts to a validated, human-annotated, versioned dataset.

The library does everything the CLI does; heavy modules load on first use so that
`import corpuskit` and `corpuskit --help` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> module that defines it. Filled in as capabilities land.
_LAZY: dict[str, str] = {
    "run_demo": "corpuskit.demo",
    "validate": "corpuskit.validation.api",
    "iter_valid_documents": "corpuskit.validation.api",
    "read_documents": "corpuskit.documents.reader",
    "parse_raw_text": "corpuskit.documents.rawtext",
    "render_raw_text": "corpuskit.documents.rendertext",
    "ValidationResult": "corpuskit.validation.api",
    "push": "corpuskit.studio.push",
    "pull": "corpuskit.studio.pull",
    "read_snapshot": "corpuskit.snapshot",
    "agreement": "corpuskit.quality.agreement",
    "gold": "corpuskit.quality.gold",
    "check_gold": "corpuskit.quality.check",
    "write_report": "corpuskit.quality.report",
    "load_taxonomy": "corpuskit.taxonomy",
    "label_config": "corpuskit.taxonomy",
    "annotation_schema": "corpuskit.taxonomy",
    "check_annotation": "corpuskit.taxonomy",
    "check_taxonomy": "corpuskit.taxonomy",
    "migrate_rows": "corpuskit.taxonomy",
    "guidelines_html": "corpuskit.taxonomy",
    "release": "corpuskit.release.api",
    "load": "corpuskit.release.load",
    "verify": "corpuskit.release.load",
    "diff": "corpuskit.release.diff",
    "publish": "corpuskit.release.publish",
    "init": "corpuskit.scaffold",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'corpuskit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
