"""`corpuskit pull`: export a Label Studio project and write the annotation snapshot.

The export comes from Label Studio's own bulk path (the export endpoint with `download_all_tasks=true`,
or an export snapshot created and downloaded), streamed to a temporary file; a truncated or invalid
body is an error and the previous snapshot is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from corpuskit.errors import DataError, StudioError, UsageError
from corpuskit.snapshot import Row, write_snapshot
from corpuskit.studio.export_rows import Mapper, Tables, convert_export
from corpuskit.studio.project import find_projects

if TYPE_CHECKING:
    import httpx

    from corpuskit.settings import Settings
    from corpuskit.studio.client import StudioClient
    from corpuskit.taxonomy.model import Taxonomy

METHODS = ("export", "snapshot")
_TRANSIENT = {429, 500, 502, 503, 504}


@dataclass
class PullResult:
    """What a pull wrote: where, how many rows of each table, and whether any file changed."""

    folder: Path
    counts: dict[str, int]
    annotators: int
    cancelled: int
    ground_truth: int
    changed: bool
    meta: dict[str, Any] = field(default_factory=dict)
    problems: list[Row] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "changed": self.changed,
            "tasks": self.counts["tasks"],
            "annotations": self.counts["annotations"],
            "annotators": self.annotators,
            "cancelled": self.cancelled,
            "ground_truth": self.ground_truth,
            "drafts": self.counts["drafts"],
            "predictions": self.counts["predictions"],
            "problems": self.counts["problems"],
        }


def taxonomy_mapper(taxonomy: Taxonomy) -> Mapper:
    """The converter's view of the taxonomy: result parser, annotation schema and annotation checks.

    A row is checked without its `extra` object (what Label Studio returned beyond the row's
    columns, kept for losslessness), which the annotation schema does not describe."""
    import jsonschema
    import jsonschema_rs

    from corpuskit.taxonomy import annotation_schema, check_annotation, result_to_row_fields

    schema = annotation_schema(taxonomy)
    # The compiled validator answers "valid?" fast; jsonschema words the reasons for the rare bad row.
    fast = jsonschema_rs.validator_for(schema, validate_formats=True)
    slow = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )

    def parse(result: list[Any]) -> tuple[dict[str, Any], list[str]]:
        fields, problems = result_to_row_fields(taxonomy, result)
        return dict(fields), [str(p) for p in problems]

    def check(row: Row, text: str) -> list[str]:
        core = {key: value for key, value in row.items() if key != "extra"}
        if not fast.is_valid(core):
            errors = sorted(slow.iter_errors(core), key=lambda e: [str(p) for p in e.absolute_path])
            reasons = [f"{_path(e.absolute_path)}: {e.message}" for e in errors]
            return reasons or ["does not match the annotation schema"]
        return [str(p) for p in check_annotation(core, text, taxonomy)]

    return Mapper(taxonomy_version=taxonomy.version, parse=parse, check=check)


def _path(parts: Any) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return text or "(row)"


def convert_export_file(path: Path, mapper: Mapper) -> Tables:
    """Parse a Label Studio JSON export file (list of tasks or one task) and convert it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror}") from exc
    try:
        export = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"{path}: not a valid JSON export (truncated?): {exc}") from exc
    del data
    if not isinstance(export, list | dict):
        raise DataError(f"{path}: a Label Studio export is a list of tasks or one task object")
    return convert_export(export, mapper)


def _summarise(folder: Path, tables: Tables, changed: bool, meta: dict[str, Any]) -> PullResult:
    annotators = {
        (row["annotator"]["id"], row["annotator"]["email"])
        for row in tables.annotations
        if row["annotator"]["id"] is not None or row["annotator"]["email"] is not None
    }
    return PullResult(
        folder=folder,
        counts={name: len(rows) for name, rows in tables.by_table().items()},
        annotators=len(annotators),
        cancelled=sum(1 for row in tables.annotations if row["was_cancelled"]),
        ground_truth=sum(1 for row in tables.annotations if row["ground_truth"]),
        changed=changed,
        meta=meta,
        problems=tables.problems,
    )


def add_emails(client: StudioClient, tables: Tables) -> None:
    """The export endpoint names annotators by id only; the server's user list gives their emails."""
    rows = [*tables.annotations, *tables.drafts]
    rows += [p["value"] for p in tables.problems if p["code"] == "invalid-annotation"]
    if all(r["annotator"]["email"] is not None or r["annotator"]["id"] is None for r in rows):
        return
    users = client.request("GET", "/api/users", what="list users").json()
    emails = {u["id"]: u.get("email") for u in users if isinstance(u, dict) and "id" in u}
    for row in rows:
        if row["annotator"]["email"] is None and row["annotator"]["id"] in emails:
            row["annotator"] = {"id": row["annotator"]["id"], "email": emails[row["annotator"]["id"]]}


def _public_url(url: str) -> str:
    """The server URL as recorded in the snapshot: without any user:password part."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- talking to the server -------------------------------------------------------------------------
# Requests go through the shared StudioClient: the same server choice, retries, token kinds (legacy
# and personal access tokens) and one-line errors as push; only the streamed download is pull's own.


def _raise_for_status(response: httpx.Response, what: str) -> None:
    status = response.status_code
    if status < 400:
        return
    if status in (401, 403):
        raise StudioError(f"{what}: Label Studio refused the API token (HTTP {status})")
    if status == 404:
        raise StudioError(f"{what}: not found on the server (HTTP 404): wrong project id?")
    raise StudioError(f"{what}: Label Studio answered HTTP {status}")


def _stream_to(client: StudioClient, url: str, params: dict[str, Any], target: Path, what: str) -> None:
    """Stream a response body to a file, with back-off; a body shorter than announced is an error."""
    import httpx

    delay = client.backoff
    for attempt in range(1, client.attempts + 1):
        try:
            headers = {"Authorization": client.auth_header()}
            with client.http.stream("GET", url, params=params, headers=headers) as response:
                if response.status_code in _TRANSIENT and attempt < client.attempts:
                    raise _Retry
                _raise_for_status(response, what)
                expected = response.headers.get("content-length")
                written = 0
                with open(target, "wb") as fh:
                    for chunk in response.iter_raw(1 << 20):
                        fh.write(chunk)
                        written += len(chunk)
                encoding = response.headers.get("content-encoding", "identity")
                if expected is not None and encoding == "identity" and written != int(expected):
                    raise StudioError(f"{what}: the export was cut off ({written} of {expected} bytes)")
                return
        except (_Retry, httpx.TransportError) as exc:
            client._raise_if_untrusted(exc, what)  # an untrusted certificate is no transient fault
            if attempt == client.attempts:
                detail = "server busy" if isinstance(exc, _Retry) else type(exc).__name__
                raise StudioError(client.scrub(f"{what}: the export failed: {detail}")) from None
        time.sleep(delay)
        delay *= 2


class _Retry(Exception):
    pass


def find_project(client: StudioClient, title: str) -> dict[str, Any]:
    """The one project with this title (push names it with `project_title`)."""
    found = find_projects(client, title)
    if not found:
        raise StudioError(f"no Label Studio project titled {title!r}: run `corpuskit push` or pass --project")
    if len(found) > 1:
        ids = ", ".join(str(p["id"]) for p in found)
        raise StudioError(f"several projects are titled {title!r} (ids {ids}): pass --project")
    return found[0]


def download_export(
    client: StudioClient, project_id: int, target: Path, method: str = "snapshot", *, all_tasks: bool = True
) -> None:
    """Fetch the project's full JSON export (all tasks, annotated or not) into `target`.

    `all_tasks=False` (the GET export only) leaves out the tasks nobody has worked on."""
    if method == "export":
        params = {"exportType": "JSON", "download_all_tasks": "true" if all_tasks else "false"}
        _stream_to(
            client, f"/api/projects/{project_id}/export", params, target, f"project {project_id} export"
        )
        return
    if method != "snapshot":
        raise UsageError(f"unknown export method {method!r}; use one of {', '.join(METHODS)}")
    created = client.request(
        "POST",
        f"/api/projects/{project_id}/exports/",
        json={
            "title": "corpuskit pull",
            "task_filter_options": {"only_with_annotations": False},
            # Without these the snapshot holds drafts, predictions and annotators as bare ids.
            "serialization_options": {
                "drafts": {"only_id": False},
                "predictions": {"only_id": False},
                "annotations__completed_by": {"only_id": False},
            },
        },
        what=f"project {project_id} export snapshot",
    ).json()
    export_id = created["id"]
    try:
        if created.get("status") not in (None, "completed"):
            _wait_export(client, project_id, export_id)
        _stream_to(
            client,
            f"/api/projects/{project_id}/exports/{export_id}/download",
            {"exportType": "JSON"},
            target,
            f"project {project_id} export snapshot {export_id}",
        )
    finally:
        # The server keeps every export file until deleted; a pull leaves nothing behind.
        with contextlib.suppress(Exception):
            client.request("DELETE", f"/api/projects/{project_id}/exports/{export_id}", what="delete export")


def _wait_export(client: StudioClient, project_id: int, export_id: int, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.request(
            "GET", f"/api/projects/{project_id}/exports/{export_id}", what="export snapshot status"
        ).json()
        status = info.get("status")
        if status == "completed":
            return
        if status == "failed":
            raise StudioError(
                f"project {project_id}: Label Studio failed to build export snapshot {export_id}"
            )
        time.sleep(0.5)
    raise StudioError(f"project {project_id}: export snapshot {export_id} not ready after {timeout:.0f} s")


def pull(
    *,
    project: int | None = None,
    out: str | os.PathLike[str] | None = None,
    from_export: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    taxonomy: Taxonomy | None = None,
    method: str = "snapshot",
    url: str | None = None,
    token: str | None = None,
) -> PullResult:
    """Pull every annotation of a Label Studio project (or convert `from_export`) into a snapshot folder.

    The folder (`out`, default `[tool.corpuskit] annotations`) is replaced atomically and left
    untouched when nothing changed; the server URL is recorded, the token never is."""
    from corpuskit.quality.design import OverlapDesign
    from corpuskit.settings import load_settings
    from corpuskit.studio.client import Connection, StudioClient, connection
    from corpuskit.studio.project import project_title
    from corpuskit.taxonomy import load_taxonomy

    settings = settings or load_settings()
    folder = Path(out) if out is not None else settings.path(settings.annotations)
    if taxonomy is None:
        taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    mapper = taxonomy_mapper(taxonomy)

    if from_export is not None:
        source = Path(from_export)
        tables = convert_export_file(source, mapper)
        meta: dict[str, Any] = {
            "project_id": None,
            "project_title": None,
            "server": None,
            "source": source.name,
            "exported_at": _now(),
            "taxonomy_version": taxonomy.version,
        }
    else:
        conn = Connection(url.rstrip("/"), token) if url and token else connection(settings)
        with StudioClient(conn) as client:
            if project is None:
                info = find_project(client, project_title(settings, taxonomy))
            else:
                info = client.project(project)
            project_id = int(info["id"])
            folder.parent.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".pull-", suffix=".json", dir=folder.parent)
            os.close(fd)
            body = Path(name)
            try:
                started = _now()
                download_export(client, project_id, body, method)
                try:
                    tables = convert_export_file(body, mapper)
                except DataError as exc:
                    raise StudioError(
                        f"project {project_id}: the export is truncated or not valid JSON"
                    ) from exc
                add_emails(client, tables)
            finally:
                body.unlink(missing_ok=True)
        meta = {
            "project_id": project_id,
            "project_title": info.get("title"),
            "server": _public_url(conn.url),
            "source": None,
            "exported_at": started,
            "taxonomy_version": taxonomy.version,
            # The overlap design in the settings at pull time (docs/team.md): the card states it and
            # the quality gate reads it to tell designed single annotations from missing ones.
            "design": OverlapDesign.from_settings(settings).to_json(),
        }
    changed = write_snapshot(folder, tables.by_table(), meta)
    return _summarise(folder, tables, changed, meta)
