"""The model version: the taxonomy version and a hash of what the model learnt from.

`<taxonomy version>-<12 hex>`, the hex being the start of a SHA-256 over the training rows (document
id, a hash of the text, the gold labels; sorted by document id) and the model settings. The same
gold and texts with the same settings give the same version, so pushing its predictions twice adds
nothing; a changed label, text or setting gives a new one. The seed and the number of folds only
change the evaluation, never the model, so they are not part of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from corpuskit.suggest.data import TrainingRow


def model_version(taxonomy_version: str, rows: Iterable[TrainingRow], settings: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(orjson.dumps(dict(settings), option=orjson.OPT_SORT_KEYS) + b"\n")
    for row in sorted(rows, key=lambda r: r.document_id):
        digest.update(orjson.dumps(row.key(), option=orjson.OPT_SORT_KEYS) + b"\n")
    return f"{taxonomy_version}-{digest.hexdigest()[:12]}"
