"""`corpuskit taxonomy show|config|schema|check|diff`: the annotation scheme and what it generates."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from corpuskit.cli.options import ExitCodes, add_action, add_command, add_format, add_taxonomy

DESCRIPTION = """\
The taxonomy (schema/taxonomy.yaml) defines the stance targets, stance values, topics, evidence
spans and note once; the Label Studio labelling config, the dataset features and the annotation
schema are generated from it. A change of labels bumps its version and declares migrations.
"""

EXAMPLES = (
    "corpuskit taxonomy show",
    "corpuskit taxonomy config > label_config.xml",
    "corpuskit taxonomy schema > annotation.schema.json",
    "corpuskit taxonomy check",
    "corpuskit taxonomy diff HEAD~1:schema/taxonomy.yaml schema/taxonomy.yaml",
)

NOTES = """\
The text of `check` (checks and verdict) goes to stderr; the other actions print on stdout.
--format json shapes (stdout):
  show:  [{"kind", "id", "name", "hotkey", "definition"}]
  check: {"taxonomy", "version", "ok", "checks": [{"name", "ok", "problems"}]}
  diff:  {"old_version", "new_version", "changes": [{"change", "annotations"}],
          "added_without_migration", "display_changes", "unmapped_removals", "errors",
          "annotations": {"total", "changed", "needs_reannotation"}}
"""
INVALID = "the taxonomy failed a check"
USAGE = "usage error (missing file, bad option)"
EXIT_CODES = ExitCodes(
    ok="all good", data="the taxonomy (or a migration of existing annotations) failed a check", usage=USAGE
)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "taxonomy",
        help="show, generate and check the annotation scheme",
        description=DESCRIPTION,
        examples=EXAMPLES,
        notes=NOTES,
        exit_codes=EXIT_CODES,
    )
    sub = parser.add_subparsers(dest="taxonomy_command", metavar="ACTION", required=True)

    def add(
        name: str, help_text: str, examples: tuple[str, ...], exit_codes: ExitCodes
    ) -> argparse.ArgumentParser:
        child = add_action(sub, name, help_text, examples, exit_codes)
        child.set_defaults(func=run, taxonomy_command=name)
        return child

    show = add(
        "show",
        "list the labels with their hotkeys and definitions",
        ("corpuskit taxonomy show --format json",),
        ExitCodes(ok="listed", data=INVALID, usage=USAGE),
    )
    add_taxonomy(show)
    add_format(show)

    config = add(
        "config",
        "print the generated Label Studio labelling config (XML)",
        ("corpuskit taxonomy config",),
        ExitCodes(ok="printed", data=INVALID, usage=USAGE),
    )
    add_taxonomy(config)

    schema = add(
        "schema",
        "print the generated JSON Schema of one annotation row",
        ("corpuskit taxonomy schema | check-jsonschema --schemafile /dev/stdin annotations.json",),
        ExitCodes(ok="printed", data=INVALID, usage=USAGE),
    )
    add_taxonomy(schema)

    check = add(
        "check",
        "validate the taxonomy and everything generated from it",
        ("corpuskit taxonomy check", "corpuskit taxonomy check --taxonomy other.yaml --format json"),
        ExitCodes(ok="the taxonomy passes every check", data=INVALID, usage=USAGE),
    )
    add_taxonomy(check)
    check.add_argument(
        "--guidelines",
        metavar="FILE",
        default=None,
        help="annotation guidelines that must describe every label ('' to skip; "
        "default: [tool.corpuskit] guidelines)",
    )
    add_format(check)

    diff = add(
        "diff",
        "show what changing the taxonomy from OLD to NEW does to existing annotations",
        (
            "corpuskit taxonomy diff HEAD~1:schema/taxonomy.yaml schema/taxonomy.yaml",
            "corpuskit taxonomy diff old.yaml new.yaml --annotations annotations/annotations.jsonl",
        ),
        ExitCodes(
            ok="the change is safe",
            data="a taxonomy failed a check or the migration cannot carry existing annotations",
            usage="usage error (missing file, git cannot show REV:PATH, bad option)",
        ),
    )
    diff.add_argument("old", metavar="OLD", help="old taxonomy: a file, or REV:PATH from git")
    diff.add_argument("new", metavar="NEW", help="new taxonomy: a file, or REV:PATH from git")
    diff.add_argument(
        "--annotations",
        metavar="FILE",
        help="annotation rows (JSONL; default: annotations.jsonl of the snapshot folder when it exists)",
    )
    add_format(diff)


def _taxonomy_path(args: argparse.Namespace) -> str:
    if getattr(args, "taxonomy", None):
        return str(args.taxonomy)
    from corpuskit.settings import load_settings

    settings = load_settings()
    return str(settings.path(settings.taxonomy))


def _show(args: argparse.Namespace) -> int:
    from corpuskit.taxonomy.loader import load_taxonomy
    from corpuskit.taxonomy.model import label_rows

    taxonomy = load_taxonomy(_taxonomy_path(args))
    rows = label_rows(taxonomy)
    if args.format == "json":
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{taxonomy.title} (taxonomy {taxonomy.version})")
    columns = ("kind", "id", "name", "hotkey")
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns) + "  DEFINITION")
    for row in rows:
        definition = row["definition"] if len(row["definition"]) <= 80 else row["definition"][:77] + "..."
        print("  ".join(row[c].ljust(widths[c]) for c in columns) + "  " + definition)
    return 0


def _config(args: argparse.Namespace) -> int:
    from corpuskit.taxonomy.labelconfig import label_config
    from corpuskit.taxonomy.loader import load_taxonomy

    sys.stdout.write(label_config(load_taxonomy(_taxonomy_path(args))))
    return 0


def _schema(args: argparse.Namespace) -> int:
    from corpuskit.taxonomy.annotation_schema import annotation_schema
    from corpuskit.taxonomy.loader import load_taxonomy

    print(json.dumps(annotation_schema(load_taxonomy(_taxonomy_path(args))), indent=2, ensure_ascii=False))
    return 0


def _check(args: argparse.Namespace) -> int:
    from corpuskit.taxonomy.check import check_taxonomy

    guidelines = args.guidelines
    if guidelines is None:
        from corpuskit.settings import load_settings

        settings = load_settings()
        guidelines = str(settings.path(settings.guidelines))
    report = check_taxonomy(_taxonomy_path(args), guidelines=guidelines or None)
    if args.format == "json":
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        for check in report.checks:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}", file=sys.stderr)
            for problem in check.problems:
                print(f"     {problem}", file=sys.stderr)
        version = f" {report.version}" if report.version else ""
        verdict = "passes" if report.ok else "fails"
        print(f"taxonomy{version} ({report.source}) {verdict} {len(report.checks)} checks", file=sys.stderr)
    return 0 if report.ok else 1


def _diff(args: argparse.Namespace) -> int:
    from pathlib import Path

    from corpuskit.taxonomy.migrations import diff_files

    annotations = args.annotations
    if annotations is None:
        from corpuskit.settings import load_settings
        from corpuskit.snapshot import ANNOTATIONS_FILE

        settings = load_settings()
        default = Path(settings.path(settings.annotations)) / ANNOTATIONS_FILE
        annotations = default if default.is_file() else None
    result = diff_files(args.old, args.new, annotations)
    if args.format == "json":
        print(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return 1 if result.errors else 0
    print(f"taxonomy {result.old_version} -> {result.new_version}")
    for change in result.changes:
        counted = annotations is not None and not result.errors
        touched = f"  ({result.affected.get(change, 0)} annotations)" if counted else ""
        print(f"  {change}{touched}")
    if not result.changes:
        print("  no declared label changes")
    for label in result.added:
        print(f"  added without a migration: {label}")
    for label in result.renamed_display:
        print(f"  display name changed: {label}")
    for label in result.unmapped:
        print(f"  removed without a migration: {label}")
    if annotations is not None and not result.errors:
        print(
            f"annotations: {result.rows} total, {result.rows_changed} changed, "
            f"{result.rows_needing_reannotation} need re-annotation"
        )
    for error in result.errors:
        print(f"corpuskit: error: {error}", file=sys.stderr)
    return 1 if result.errors else 0


_ACTIONS = {"show": _show, "config": _config, "schema": _schema, "check": _check, "diff": _diff}


def run(args: argparse.Namespace) -> int:
    return _ACTIONS[args.taxonomy_command](args)
