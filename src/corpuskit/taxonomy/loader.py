"""Read schema/taxonomy.yaml: YAML -> JSON Schema check -> cross-field checks -> `Taxonomy`.

Every problem names the file, the line and the field (`schema/taxonomy.yaml:17: targets[1].id:
duplicate id 'x'`), and all problems are collected before raising so that one run shows them all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from corpuskit.errors import DataError, UsageError
from corpuskit.taxonomy.model import Change, Feature, Label, Migration, Target, Taxonomy

# In a wheel the schema sits inside the package (pyproject force-include); in a checkout, at the root.
_PACKAGE = Path(__file__).resolve().parents[1]
SCHEMA_CANDIDATES = (
    _PACKAGE / "schema" / "taxonomy.schema.json",
    _PACKAGE.parents[1] / "schema" / "taxonomy.schema.json",
)

FieldPath = tuple[str | int, ...]


class TaxonomyError(DataError):
    """The taxonomy file is invalid; `problems` holds one located message per finding."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        super().__init__(self.problems[0] + suffix)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def field_name(path: FieldPath) -> str:
    """`("targets", 1, "id")` -> `targets[1].id`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def display_path(path: Path) -> str:
    """The path as people expect to read it: relative to the working directory when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@cache
def taxonomy_json_schema() -> dict[str, Any]:
    """The JSON Schema of taxonomy files (schema/taxonomy.schema.json)."""
    for schema_path in SCHEMA_CANDIDATES:
        if schema_path.is_file():
            data: dict[str, Any] = json.loads(schema_path.read_text(encoding="utf-8"))
            return data
    raise UsageError(f"taxonomy.schema.json not found (looked in {', '.join(map(str, SCHEMA_CANDIDATES))})")


def _line_map(text: str) -> dict[FieldPath, int]:
    """Line (1-based) of every mapping key and sequence item, so messages can point at the file."""
    import yaml

    lines: dict[FieldPath, int] = {}

    def walk(node: Any, path: FieldPath) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child = (*path, str(key.value))
                lines[child] = key.start_mark.line + 1
                walk(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, index))

    try:
        root = yaml.compose(text, Loader=_fast_loader())
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


class _Problems:
    def __init__(self, source: str, lines: Mapping[FieldPath, int]) -> None:
        self.source = source
        self.lines = lines
        self.items: list[tuple[int, str]] = []

    def add(self, path: FieldPath, message: str) -> None:
        line = None
        for cut in range(len(path), -1, -1):
            line = self.lines.get(path[:cut])
            if line is not None:
                break
        where = f"{self.source}:{line}" if line is not None else self.source
        self.items.append((line or 0, f"{where}: {field_name(path)}: {message}"))

    def raise_if_any(self) -> None:
        if self.items:
            raise TaxonomyError([message for _, message in sorted(self.items, key=lambda item: item[0])])


def _fast_loader() -> Any:
    """libyaml's safe loader where PyYAML was built with it (several times faster: every push and
    pull reads the taxonomy), else the pure-Python one."""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Read and check a taxonomy file; raise `TaxonomyError` (a DataError) naming file, line and field."""
    import yaml

    path = Path(path)
    source = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{source}: taxonomy file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{source}: cannot read the taxonomy: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_fast_loader())
    except yaml.YAMLError:
        data = None  # worded by the pure-Python parser below, as before
    try:
        if data is None:
            data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TaxonomyError([f"{where}: not valid YAML: {problem}"]) from exc
    return taxonomy_from_dict(data, source=source, lines=_line_map(text), path=path)


def taxonomy_from_dict(
    data: Any,
    *,
    source: str = "<taxonomy>",
    lines: Mapping[FieldPath, int] | None = None,
    path: Path | None = None,
) -> Taxonomy:
    """Check an already parsed taxonomy document and build the `Taxonomy`."""
    problems = _Problems(source, lines or {})
    for at, message in _schema_problems(data):
        problems.add(at, message)
    problems.raise_if_any()
    for at, message in _cross_field_problems(data):
        problems.add(at, message)
    problems.raise_if_any()
    return _build(data, path)


def _schema_problems(data: Any) -> Iterator[tuple[FieldPath, str]]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(taxonomy_json_schema())
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        at: FieldPath = tuple(error.absolute_path)
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else error.message
            hint = " (every label needs a definition)" if missing == "definition" else ""
            yield (*at, missing), f"missing{hint}"
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties", {}))
            for name in error.instance:
                if name not in known:
                    yield (*at, name), f"unknown field (expected one of: {', '.join(known)})"
        elif error.validator == "pattern" and at and at[-1] in ("hotkey", "evidence_hotkey"):
            yield at, f"{error.instance!r} is not a hotkey (one key a-z or 0-9, optionally ctrl+/shift+/alt+)"
        elif error.validator == "pattern" and _is_version_field(at):
            yield at, f"{error.instance!r} is not a version MAJOR.MINOR.PATCH (e.g. '1.2.0')"
        elif error.validator == "minItems" and len(at) >= 4 and at[-1] in ("from", "to"):
            yield at, f"a {data_op(data, at)} needs at least two ids here, got {error.instance!r}"
        elif error.validator == "pattern" and _is_id_field(at):
            yield at, f"{error.instance!r} is not an id (a lower-case letter, then letters, digits, '_')"
        elif error.validator == "pattern" and at and at[-1] == "definition":
            yield at, "is empty (every label needs a definition)"
        elif error.validator == "minLength" and at and at[-1] == "definition":
            yield at, f"too short ({len(error.instance)} characters): write a sentence annotators can apply"
        else:
            yield at, error.message


def _is_version_field(at: FieldPath) -> bool:
    return at == ("version",) or (len(at) == 3 and at[0] == "migrations" and at[2] in ("from", "to"))


def data_op(data: Any, at: FieldPath) -> str:
    """The `op` of the migration change that holds `at` (for messages)."""
    node = data
    for part in at[:-1]:
        node = node[part]
    return str(node.get("op", "change")) if isinstance(node, dict) else "change"


def _is_id_field(at: FieldPath) -> bool:
    names = [part for part in at if isinstance(part, str)]
    return bool(names) and names[-1] in ("id", "from", "to")


def _cross_field_problems(data: dict[str, Any]) -> Iterator[tuple[FieldPath, str]]:
    for section in ("targets", "stance_values", "topics"):
        seen_ids: dict[str, int] = {}
        seen_names: dict[str, int] = {}
        for index, item in enumerate(data[section]):
            if item["id"] in seen_ids:
                yield (
                    (section, index, "id"),
                    f"duplicate id {item['id']!r} (also {section}[{seen_ids[item['id']]}])",
                )
            else:
                seen_ids[item["id"]] = index
            name = item["name"].strip().casefold()
            if name in seen_names:
                yield (
                    (section, index, "name"),
                    f"duplicate name {item['name']!r} (also {section}[{seen_names[name]}])",
                )
            else:
                seen_names[name] = index

    value_ids = [value["id"] for value in data["stance_values"]]
    hotkeys: dict[str, FieldPath] = {}

    def claim(key: str, at: FieldPath) -> Iterator[tuple[FieldPath, str]]:
        if key in hotkeys:
            yield at, f"hotkey {key!r} is already used by {field_name(hotkeys[key])}"
        else:
            hotkeys[key] = at

    for index, target in enumerate(data["targets"]):
        for value_id, key in target.get("hotkeys", {}).items():
            if value_id not in value_ids:
                yield ("targets", index, "hotkeys", value_id), f"unknown stance value {value_id!r}"
            yield from claim(key, ("targets", index, "hotkeys", value_id))
        if "evidence_hotkey" in target:
            yield from claim(target["evidence_hotkey"], ("targets", index, "evidence_hotkey"))
    for index, topic in enumerate(data["topics"]):
        if "hotkey" in topic:
            yield from claim(topic["hotkey"], ("topics", index, "hotkey"))

    yield from _migration_problems(data)


def _migration_problems(data: dict[str, Any]) -> Iterator[tuple[FieldPath, str]]:
    version = version_key(data["version"])
    current = {
        "target": {t["id"] for t in data["targets"]},
        "stance_value": {v["id"] for v in data["stance_values"]},
        "topic": {t["id"] for t in data["topics"]},
    }
    seen_steps: dict[str, int] = {}
    for m_index, migration in enumerate(data.get("migrations", [])):
        at: FieldPath = ("migrations", m_index)
        start, end = version_key(migration["from"]), version_key(migration["to"])
        if start >= end:
            yield (*at, "to"), f"{migration['to']!r} must be a later version than from {migration['from']!r}"
        if end > version:
            yield (
                (*at, "to"),
                f"{migration['to']!r} is later than this taxonomy's version {data['version']!r}",
            )
        if migration["from"] in seen_steps:
            yield (
                (*at, "from"),
                f"a migration from {migration['from']!r} is already declared "
                f"(migrations[{seen_steps[migration['from']]}])",
            )
        seen_steps[migration["from"]] = m_index
        if end != version:
            continue  # the labels of an intermediate version are only known to that version's file
        for c_index, change in enumerate(migration["changes"]):
            kind = change["kind"].replace("_", " ")
            here = (*at, "changes", c_index)
            sources, targets = _ids(change.get("from")), _ids(change.get("to"))
            for t_index, new_id in enumerate(targets):
                if new_id not in current[change["kind"]]:
                    where = (*here, "to", t_index) if isinstance(change.get("to"), list) else (*here, "to")
                    yield where, f"unknown {kind} {new_id!r} (not defined in this taxonomy)"
            for s_index, old_id in enumerate(sources):
                if old_id in current[change["kind"]] and old_id not in targets:
                    where = (
                        (*here, "from", s_index) if isinstance(change.get("from"), list) else (*here, "from")
                    )
                    yield (
                        where,
                        f"{kind} {old_id!r} is still defined here, so it cannot be {_PAST[change['op']]}",
                    )


_PAST = {"rename": "renamed", "merge": "merged away", "split": "split", "retire": "retired", "add": "added"}


def _ids(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


def _build(data: dict[str, Any], path: Path | None) -> Taxonomy:
    evidence = data.get("evidence") or {"enabled": False, "definition": ""}
    note = data.get("note") or {"enabled": False, "definition": ""}
    return Taxonomy(
        version=data["version"],
        title=data["title"],
        targets=tuple(
            Target(
                id=t["id"],
                name=t["name"],
                definition=t["definition"].strip(),
                required=t.get("required", True),
                hotkeys=dict(t.get("hotkeys", {})),
                evidence_hotkey=t.get("evidence_hotkey"),
            )
            for t in data["targets"]
        ),
        stance_values=tuple(
            Label(v["id"], v["name"], v["definition"].strip()) for v in data["stance_values"]
        ),
        topics=tuple(
            Label(t["id"], t["name"], t["definition"].strip(), t.get("hotkey")) for t in data["topics"]
        ),
        evidence=Feature(
            evidence["enabled"], evidence["definition"].strip(), bool(evidence.get("speaker", False))
        ),
        note=Feature(note["enabled"], note["definition"].strip()),
        migrations=tuple(
            Migration(
                from_version=m["from"],
                to_version=m["to"],
                changes=tuple(
                    Change(c["op"], c["kind"], _ids(c.get("from")), _ids(c.get("to")), c.get("reason"))
                    for c in m["changes"]
                ),
            )
            for m in sorted(data.get("migrations", []), key=lambda m: version_key(m["from"]))
        ),
        path=path,
    )


def load_taxonomy_at(spec: str | Path, root: Path | None = None) -> Taxonomy:
    """A taxonomy from a file, or from git history as `REV:PATH` (e.g. `HEAD~1:schema/taxonomy.yaml`)
    when no file of that name exists: the usual way to compare with the previous version."""
    import subprocess

    import yaml

    path = Path(spec)
    text_spec = str(spec)
    if path.exists() or ":" not in text_spec:
        return load_taxonomy(path)
    rev, _, rel = text_spec.partition(":")
    try:
        text = subprocess.run(
            ["git", "show", f"{rev}:{rel}"],
            cwd=root or Path.cwd(),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise UsageError(f"{text_spec}: not a file, and git cannot show it: {detail.strip()}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TaxonomyError([f"{text_spec}: not valid YAML: {exc}"]) from exc
    return taxonomy_from_dict(data, source=text_spec, lines=_line_map(text))
