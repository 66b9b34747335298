"""`croissant.json`: ML Croissant 1.0 metadata of a release, with the SHA-256 of every Parquet file.

Each config is a record set read from a file set (`data/<config>/*.parquet`); every Parquet file is
also listed as a file object carrying its hash. Every column is a field: structs have `subField`s,
lists are `repeated`, ClassLabel columns reference an enumeration record set of their class names
(and their `_text` columns carry the names themselves), and each record set has a `split` field
read from the shard's file name.
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
LICENSES = {
    "cc-by-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "cc-by-sa-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "cc-by-nc-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
    "cc0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
}
PARQUET = "application/x-parquet"
_TYPES = {
    "string": "sc:Text",
    "int64": "sc:Integer",
    "int32": "sc:Integer",
    "float64": "sc:Float",
    "bool": "sc:Boolean",
    "timestamp[us, tz=UTC]": "sc:DateTime",
}
SPLIT_SET = "splits"
_SPLIT_FILE = r"^(?:.*/)?(train|validation|test)(?:-\d{5}-of-\d{5}\.parquet)?$"


def _enum_id(names: list[str]) -> str:
    return "labels/" + "-".join(names)[:60]


class _Labels:
    """One enumeration record set per distinct list of class names (stance values, targets, topics...)."""

    def __init__(self) -> None:
        self.sets: dict[tuple[str, ...], dict[str, Any]] = {}
        self.ids: dict[tuple[str, ...], str] = {}

    def reference(self, names: list[str], hint: str) -> dict[str, Any]:
        key = tuple(names)
        if key not in self.ids:
            set_id = f"classes-{hint}"
            while set_id in self.ids.values():
                set_id += "-"
            self.ids[key] = set_id
            self.sets[key] = {
                "@type": "cr:RecordSet",
                "@id": set_id,
                "name": set_id,
                "description": f"Class names of `{hint}`: a ClassLabel column stores the index.",
                "dataType": "sc:Enumeration",
                "key": {"@id": f"{set_id}/index"},
                "field": [
                    {
                        "@type": "cr:Field",
                        "@id": f"{set_id}/index",
                        "name": "index",
                        "dataType": "sc:Integer",
                    },
                    {"@type": "cr:Field", "@id": f"{set_id}/name", "name": "name", "dataType": "sc:Text"},
                ],
                "data": [{f"{set_id}/index": i, f"{set_id}/name": n} for i, n in enumerate(names)],
            }
        return {"field": {"@id": f"{self.ids[key]}/index"}}


def _field(config: str, path: list[str], feature: Any, labels: _Labels) -> dict[str, Any]:
    """A Croissant field for one column (or one member of a struct column), with its class names."""
    from datasets import ClassLabel, List, Value

    out: dict[str, Any] = {"@type": "cr:Field", "@id": "/".join([config, *path]), "name": path[-1]}
    source: dict[str, Any] = {"fileSet": {"@id": f"{config}-parquet"}, "extract": {"column": path[0]}}
    if len(path) > 1:
        source["transform"] = {"jsonPath": "$." + ".".join(path[1:])}
    repeated = isinstance(feature, List)
    if repeated:
        out["repeated"] = True
        feature = feature.feature
    if isinstance(feature, ClassLabel):
        out["dataType"] = "sc:Integer"
        reference = labels.reference(feature.names, path[-1])
        out["description"] = (
            f"a class index into {reference['field']['@id'].split('/')[0]} ({', '.join(feature.names)}); "
            f"-1 means no label; the names are in `{path[-1]}_text`"
        )
        if not repeated:
            # mlcroissant cannot join a list column to its enumeration; the description names them.
            out["references"] = reference
    elif isinstance(feature, Value):
        out["dataType"] = _TYPES.get(feature.dtype, "sc:Text")
    elif isinstance(feature, dict):
        out["subField"] = [_field(config, [*path, name], sub, labels) for name, sub in feature.items()]
    out["source"] = source
    return out


def _split_field(config: str) -> dict[str, Any]:
    return {
        "@type": "cr:Field",
        "@id": f"{config}/split",
        "name": "split",
        "description": "train, validation or test (from the shard's file name).",
        "dataType": ["sc:Text", "cr:Split"],
        "references": {"field": {"@id": f"{SPLIT_SET}/name"}},
        "source": {
            "fileSet": {"@id": f"{config}-parquet"},
            "extract": {"fileProperty": "fullpath"},
            "transform": {"regex": _SPLIT_FILE},
        },
    }


def croissant(folder: Path, inputs: ReleaseInputs, stats: Stats, version: str) -> dict[str, Any]:
    distribution: list[dict[str, Any]] = []
    record_sets: list[dict[str, Any]] = [
        {
            "@type": "cr:RecordSet",
            "@id": SPLIT_SET,
            "name": SPLIT_SET,
            "description": "The splits of every configuration.",
            "dataType": "cr:Split",
            "key": {"@id": f"{SPLIT_SET}/name"},
            "field": [
                {"@type": "cr:Field", "@id": f"{SPLIT_SET}/name", "name": "name", "dataType": "sc:Text"}
            ],
            "data": [{f"{SPLIT_SET}/name": split} for split in SPLITS],
        }
    ]
    labels = _Labels()
    base = _file_base(inputs.homepage, version)
    for config in CONFIGS:
        if not any(stats.files[config][split] for split in SPLITS):
            continue
        for split in SPLITS:
            for rel in stats.files[config][split]:
                distribution.append(
                    {
                        "@type": "cr:FileObject",
                        "@id": rel,
                        "name": rel,
                        "contentUrl": base + rel if base else rel,
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
        features = features_of(config, inputs.taxonomy)
        record_sets.append(
            {
                "@type": "cr:RecordSet",
                "@id": config,
                "name": config,
                "description": f"Rows of the {config} configuration; README.md describes every column.",
                "field": [
                    *(_field(config, [name], feature, labels) for name, feature in features.items()),
                    _split_field(config),
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
        # Relative without a homepage: the release does not know where it will be published.
        "url": inputs.homepage or f"releases/v{version}",
        "version": version,
        "citeAs": f"{inputs.pretty_name}, version {version}",
        "inLanguage": inputs.language,
        "keywords": ["stance detection", "news", "text classification", "corpuskit"],
        "creator": [{"@type": "sc:Person", "name": name} for name in inputs.authors]
        or {"@type": "sc:Organization", "name": inputs.pretty_name},
        "distribution": distribution,
        "recordSet": [*labels.sets.values(), *record_sets],
    }
    if exported:
        # The export date, not the build time: identical inputs must give identical bytes.
        dataset["datePublished"] = exported
    return dataset


HUB = "https://huggingface.co/datasets/"


def _file_base(homepage: str | None, version: str) -> str:
    """Where the files will be downloadable from: a Hub homepage gives absolute URLs at the version's tag."""
    if homepage and homepage.startswith(HUB):
        return f"{homepage.rstrip('/')}/resolve/v{version}/"
    return ""


def write_croissant(folder: Path, inputs: ReleaseInputs, stats: Stats, version: str) -> Path:
    path = folder / "croissant.json"
    data = croissant(folder, inputs, stats, version)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
