"""The annotation scheme: one taxonomy file drives the Label Studio config, the dataset features and
the checks on annotations (docs/taxonomy.md)."""

from __future__ import annotations

from corpuskit.taxonomy.annotation_schema import (
    annotation_problems,
    annotation_schema,
    check_annotation,
    schema_problems,
)
from corpuskit.taxonomy.check import CheckReport, check_taxonomy
from corpuskit.taxonomy.features import features, label_features
from corpuskit.taxonomy.guidelines import guidelines_html
from corpuskit.taxonomy.labelconfig import label_config, stance_control
from corpuskit.taxonomy.loader import TaxonomyError, load_taxonomy, load_taxonomy_at, taxonomy_from_dict
from corpuskit.taxonomy.migrations import TaxonomyDiff, diff_taxonomies, migrate_rows
from corpuskit.taxonomy.model import Change, Label, Migration, Target, Taxonomy
from corpuskit.taxonomy.results import result_to_row_fields, row_to_result

__all__ = [
    "Change",
    "CheckReport",
    "Label",
    "Migration",
    "Target",
    "Taxonomy",
    "TaxonomyDiff",
    "TaxonomyError",
    "annotation_problems",
    "annotation_schema",
    "check_annotation",
    "check_taxonomy",
    "diff_taxonomies",
    "features",
    "guidelines_html",
    "label_config",
    "label_features",
    "load_taxonomy",
    "load_taxonomy_at",
    "migrate_rows",
    "result_to_row_fields",
    "row_to_result",
    "schema_problems",
    "stance_control",
    "taxonomy_from_dict",
]
