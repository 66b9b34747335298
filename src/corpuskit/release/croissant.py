"""`croissant.json`: ML Croissant 1.0 metadata of a release, with the SHA-256 of every Parquet file.

Each config is a record set read from a file set (`data/<config>/*.parquet`); every Parquet file is
also listed as a file object carrying its hash. Scalar columns are Croissant fields; nested columns
(paragraphs, stance structs, provenance) are described by the `datasets` features in the card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.release.splits import SPLITS
from corpuskit.release.tables import CONFIGS, features_of

if TYPE_CHECKING:
    from corpuskit.release.build import ReleaseInputs, Stats

CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "equivalentProperty": "cr:equivalentProperty",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}
LICENSES = {"cc-by-4.0": "https://creativecommons.org/licenses/by/4.0/"}
PARQUET = "application/x-parquet"
_TYPES = {
    "string": "sc:Text",
    "int64": "sc:Integer",
    "int32": "sc:Integer",
    "float64": "sc:Float",
    "bool": "sc:Boolean",
}


def _scalar_fields(config: str, inputs: ReleaseInputs) -> list[tuple[str, str]]:
    from datasets import Value

    return [
        (name, _TYPES[feature.dtype])
        for name, feature in features_of(config, inputs.taxonomy).items()
        if isinstance(feature, Value) and feature.dtype in _TYPES
    ]


def croissant(folder: Path, inputs: ReleaseInputs, stats: Stats, version: str) -> dict[str, Any]:
    distribution: list[dict[str, Any]] = []
    record_sets: list[dict[str, Any]] = []
    for config in CONFIGS:
        for split in SPLITS:
            for rel in stats.files[config][split]:
                distribution.append(
                    {
                        "@type": "cr:FileObject",
                        "@id": rel,
                        "name": rel,
                        "contentUrl": rel,
                        "encodingFormat": PARQUET,
                        "contentSize": f"{(folder / rel).stat().st_size} B",
                        "sha256": stats.sha256_of(folder / rel, rel),
                    }
                )
        distribution.append(
            {
                "@type": "cr:FileSet",
                "@id": f"{config}-parquet",
                "name": f"{config}-parquet",
                "description": f"Parquet shards of the {config} configuration (all splits).",
                "encodingFormat": PARQUET,
                "includes": f"data/{config}/*.parquet",
            }
        )
        record_sets.append(
            {
                "@type": "cr:RecordSet",
                "@id": config,
                "name": config,
                "description": f"Rows of the {config} configuration; see README.md for every column.",
                "field": [
                    {
                        "@type": "cr:Field",
                        "@id": f"{config}/{name}",
                        "name": name,
                        "dataType": dtype,
                        "source": {"fileSet": {"@id": f"{config}-parquet"}, "extract": {"column": name}},
                    }
                    for name, dtype in _scalar_fields(config, inputs)
                ],
            }
        )
    exported = str(inputs.snapshot.get("exported_at") or "")[:10]
    dataset: dict[str, Any] = {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": f"corpuskit-release-v{version}",
        "description": f"{inputs.pretty_name}, release v{version}: documents, annotations and gold labels.",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "license": LICENSES.get(inputs.license, inputs.license),
        "url": f"releases/v{version}",
        "version": version,
        "citeAs": f"{inputs.pretty_name}, version {version}",
        "inLanguage": inputs.language,
        "distribution": distribution,
        "recordSet": record_sets,
    }
    if exported:
        # The export date, not the build time: identical inputs must give identical bytes.
        dataset["datePublished"] = exported
    return dataset


def write_croissant(folder: Path, inputs: ReleaseInputs, stats: Stats, version: str) -> Path:
    path = folder / "croissant.json"
    data = croissant(folder, inputs, stats, version)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
