"""Record real Label Studio exports of a corpuskit project into tests/data/label-studio-exports/recorded/.

The pull-conversion tests need exports in corpuskit's own label config, with the shapes a real server
sends; this script makes them instead of anyone editing JSON by hand:

1. a throwaway corpus (the repository's schema/, taxonomy and guidelines; the documents of
   tests/data/valid/) is pushed with `corpuskit.studio.push` to the embedded Label Studio, started
   in a temporary folder on a free port the way the test session starts it (or to the server named
   by LABEL_STUDIO_URL + LABEL_STUDIO_API_KEY);
2. three synthetic accounts (`recorder-annotator-N@example.org`, random passwords never stored) sign
   up by invite and work from Label Studio's queue as a browser does (`corpuskit.studio.members`):
   submissions, a skip next to a submission on the same task, an updated annotation, drafts;
   the admin adds a model prediction and marks one annotation as ground truth;
3. the project is exported through both paths `corpuskit pull` knows (the export endpoint and an
   export snapshot), checked for secrets, and written with a README naming the server version, the
   date and this command; the conversion of every fixture is written to `expected/`.

    .venv/bin/python scripts/record_exports.py              # record, then rewrite expected/
    .venv/bin/python scripts/record_exports.py --expected   # only rewrite expected/ (no server)

corpuskit does not read Label Studio's JSON_MIN or CSV exports, nor the task API's shape, so
those are not recorded.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXPORTS = REPO / "tests" / "data" / "label-studio-exports"
RECORDED = EXPORTS / "recorded"
HANDWRITTEN = EXPORTS / "handwritten"
EXPECTED = EXPORTS / "expected"
TITLE = "corpuskit recorded exports"
# The export files this script writes, and the `corpuskit pull --method` each one comes from.
EXPORT_FILES = {"export.json": "export", "export-snapshot.json": "snapshot"}
COMMAND = "make env && .venv/bin/python scripts/record_exports.py"


def fixture_files() -> list[Path]:
    """Every fixture whose conversion is kept in expected/: recorded and hand-written."""
    return sorted([*RECORDED.glob("*.json"), *HANDWRITTEN.glob("*.json")])


def expected_path(fixture: Path) -> Path:
    return EXPECTED / f"{fixture.parent.name}--{fixture.name}"


def converted(fixture: Path) -> dict[str, Any]:
    """The fixture through corpuskit's own pull conversion, as the JSON kept in expected/."""
    from corpuskit.studio.pull import convert_export_file, taxonomy_mapper
    from corpuskit.taxonomy import load_taxonomy

    mapper = taxonomy_mapper(load_taxonomy(REPO / "schema" / "taxonomy.yaml"))
    tables = convert_export_file(fixture, mapper)
    return {
        name: tables.table(name) for name in ("tasks", "annotations", "drafts", "predictions", "problems")
    }


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_expected() -> list[Path]:
    """Rewrite expected/ from the fixtures (review the diff: it is what the tests hold the code to)."""
    EXPECTED.mkdir(parents=True, exist_ok=True)
    for stale in EXPECTED.glob("*.json"):
        stale.unlink()
    written = []
    for fixture in fixture_files():
        target = expected_path(fixture)
        target.write_text(dump(converted(fixture)), encoding="utf-8")
        written.append(target)
    return written


# --- recording ---------------------------------------------------------------------------------


@dataclass
class Log:
    """What was done, by whom, on which document: the README's scenario table."""

    steps: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, who: str, doc_id: str, what: str) -> None:
        self.steps.append((who, doc_id, what))
        print(f"  {who}: {doc_id}: {what}", file=sys.stderr)


def make_corpus(root: Path, studio_dir: Path) -> Path:
    """A corpus folder of the repository's schema, guidelines and tests/data/valid documents."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "schema", root / "schema")
    (root / "docs").mkdir()
    shutil.copy(REPO / "docs" / "annotation-guidelines.md", root / "docs" / "annotation-guidelines.md")
    raw = root / "raw"
    raw.mkdir()
    for name in ("plain.txt", "record.json", "batch.jsonl"):
        shutil.copy(REPO / "tests" / "data" / "valid" / name, raw / name)
    (root / "pyproject.toml").write_text(
        "[tool.corpuskit]\n"
        'raw = "raw"\n'
        f"project_title = {json.dumps(TITLE)}\n"
        f"studio_dir = {json.dumps(str(studio_dir))}\n",
        encoding="utf-8",
    )
    return root


def answer(taxonomy: Any, task: dict[str, Any], annotator: int, **change: Any) -> list[dict[str, Any]]:
    """A deterministic answer (the demo's keyword rule), with `change` overriding row fields."""
    from corpuskit.demo import demo_answer
    from corpuskit.taxonomy import row_to_result

    data = task["data"]
    text = str(data["text"])
    stance, topics, spans = demo_answer(str(data["doc_id"]), text, annotator, taxonomy)
    row = {"stance": stance, "topics": topics, "spans": spans} | change
    return row_to_result(taxonomy, row, text)


def next_task(member: Any, project_id: int) -> dict[str, Any]:
    task = member.next_task(project_id)
    if task is None:
        raise SystemExit(f"the queue of {member.email} is empty too early")
    return dict(task)


def annotate(client: Any, project_id: int, taxonomy: Any, members: list[Any], log: Log) -> None:
    """The scenario: every step goes through the queue as the member, except the admin's marks."""
    a1, a2, a3 = members

    # Annotator 1 submits a task; annotator 2 is given the same task (overlap first) and skips it.
    t1 = next_task(a1, project_id)
    first = a1.submit(t1["id"], project_id, answer(taxonomy, t1, 1), 41.5)
    log.add("annotator 1", t1["data"]["doc_id"], f"submitted annotation {first}")
    t1b = next_task(a2, project_id)
    skipped = a2.skip(t1b["id"], project_id)
    log.add("annotator 2", t1b["data"]["doc_id"], f"skipped (cancelled annotation {skipped})")

    # Annotator 1 submits the next task, then changes their answer (an updated annotation).
    t2 = next_task(a1, project_id)
    second = a1.submit(t2["id"], project_id, answer(taxonomy, t2, 1), 20.0)
    a1.api(
        "PATCH",
        f"/api/annotations/{second}",
        json={"result": answer(taxonomy, t2, 1, note="changed my mind on a second reading")},
        what="update an annotation",
    )
    log.add("annotator 1", t2["data"]["doc_id"], f"submitted annotation {second}, then updated it")

    # Annotator 2 answers the task annotator 1 just did; the admin marks it as ground truth.
    t3 = next_task(a2, project_id)
    third = a2.submit(t3["id"], project_id, answer(taxonomy, t3, 2), 33.0)
    client.request(
        "PATCH", f"/api/annotations/{third}", json={"ground_truth": True}, what="mark ground truth"
    )
    log.add("annotator 2", t3["data"]["doc_id"], f"submitted annotation {third}; admin: ground truth")

    # Annotator 3 starts a task and leaves it as a draft (no annotation yet).
    t4 = next_task(a3, project_id)
    draft = a3.api(
        "POST",
        f"/api/tasks/{t4['id']}/drafts",
        json={"result": answer(taxonomy, t4, 3, topics=[]), "lead_time": 7.25},
        what="save a draft",
    ).json()
    log.add("annotator 3", t4["data"]["doc_id"], f"saved draft {draft['id']} without submitting")

    # Annotator 1 reopens the task they submitted and leaves an unsaved edit: a draft next to an annotation.
    edit = a1.api(
        "POST",
        f"/api/tasks/{t1['id']}/drafts",
        json={
            "result": answer(taxonomy, t1, 1, topics=["diplomacy_summits"]),
            "lead_time": 3.0,
            "annotation": first,
        },
        what="save a draft of an annotation",
    ).json()
    log.add(
        "annotator 1",
        t1["data"]["doc_id"],
        f"saved draft {edit['id']} on the task they had submitted (sent with `annotation: {first}`)",
    )

    # A model prediction on the first task (the admin, as a pre-annotation import would).
    made = client.request(
        "POST",
        "/api/predictions",
        json={
            "task": t1["id"],
            "result": answer(taxonomy, t1, 3),
            "model_version": "keyword-baseline-0.1",
            "score": 0.62,
        },
        what="create a prediction",
    ).json()
    log.add("admin", t1["data"]["doc_id"], f"prediction {made['id']} (model keyword-baseline-0.1)")


def sign_up_members(client: Any, count: int) -> tuple[list[Any], list[str]]:
    """Synthetic accounts signed up by invite; returns them and their (never stored) passwords."""
    from corpuskit.studio.members import sign_up
    from corpuskit.studio.team import invite_link

    taken = {u.get("email") for u in client.request("GET", "/api/users", what="list users").json()}
    invite = invite_link(client)
    members, passwords = [], []
    run = ""
    if any(f"recorder-annotator-{n}@example.org" in taken for n in range(1, count + 1)):
        run = f".{secrets.token_hex(3)}"  # a server used before: fresh accounts, same pattern
    for n in range(1, count + 1):
        email = f"recorder-annotator-{n}{run}@example.org"
        password = secrets.token_urlsafe(18)
        member = sign_up(invite, email, password)
        client.request(
            "PATCH",
            f"/api/users/{member.user_id}",
            json={"first_name": f"Recorder annotator {n}", "last_name": "(synthetic)"},
            what=f"name {email}",
        )
        member.number = n
        members.append(member)
        passwords.append(password)
    return members, passwords


def check_no_secrets(path: Path, secret_values: list[str]) -> None:
    text = path.read_text(encoding="utf-8")
    for value in secret_values:
        if value and value in text:
            raise SystemExit(f"{path}: holds a secret of the recording session; not written")
    for word in ("password", "token", "api_key"):
        if f'"{word}"' in text:
            raise SystemExit(f"{path}: has a {word!r} key; check and scrub it")


def server_version(client: Any) -> str:
    body = client.request("GET", "/api/version", what="read the server version").json()
    for key in ("release", "label-studio-os-package"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("version")
        if isinstance(value, str):
            return value
    return "unknown"


def record(out: Path) -> None:
    from corpuskit.settings import load_settings
    from corpuskit.studio import server
    from corpuskit.studio.client import StudioClient, connection
    from corpuskit.studio.pull import download_export
    from corpuskit.studio.push import push
    from corpuskit.taxonomy import load_taxonomy

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="corpuskit-record-") as scratch:
        studio_dir = Path(scratch) / "studio"
        root = make_corpus(Path(scratch) / "corpus", studio_dir)
        external = bool(os.environ.get("LABEL_STUDIO_URL") and os.environ.get("LABEL_STUDIO_API_KEY"))
        if not external:
            print("starting a Label Studio of its own (about 30-60 s)", file=sys.stderr)
            server.start(studio_dir, port=server.free_port(), timeout=300.0, progress=False)
        members: list[Any] = []
        try:
            settings = load_settings(root)
            taxonomy = load_taxonomy(settings.path(settings.taxonomy))
            pushed = push(settings=settings, progress=False)
            project_id = pushed.project_id
            assert project_id is not None
            log = Log()
            with StudioClient(connection(settings, warn=False)) as client:
                version = server_version(client)
                members, passwords = sign_up_members(client, 3)
                annotate(client, project_id, taxonomy, members, log)
                out.mkdir(parents=True, exist_ok=True)
                secret_values = [client.auth_header().split(" ", 1)[-1], *passwords]
                creds = server.load_credentials(studio_dir)
                if creds is not None:
                    secret_values += [creds.password, creds.token]
                for name, method in EXPORT_FILES.items():
                    raw = Path(scratch) / name
                    download_export(client, project_id, raw, method)
                    # Indented for reviewable diffs; the content is the server's, value for value.
                    body = json.loads(raw.read_text(encoding="utf-8"))
                    (out / name).write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", "utf-8")
                    check_no_secrets(out / name, secret_values)
            for member in members:
                member.close()
        finally:
            if not external:
                server.stop(studio_dir)
    took = time.monotonic() - started
    write_readme(out, version, external, log, took)
    print(f"recorded {', '.join(EXPORT_FILES)} in {took:.0f} s", file=sys.stderr)


def write_readme(out: Path, version: str, external: bool, log: Log, took: float) -> None:
    sdk = importlib.metadata.version("label-studio-sdk")
    where = "a server named by LABEL_STUDIO_URL" if external else "the embedded server (SQLite, 127.0.0.1)"
    rows = "\n".join(f"| {n} | {who} | `{doc}` | {what} |" for n, (who, doc, what) in enumerate(log.steps, 1))
    text = f"""# Recorded Label Studio exports

Recorded by `scripts/record_exports.py` from a real Label Studio; do not edit by hand, record again.

- Label Studio: {version} ({where}); label-studio-sdk {sdk}
- Recorded: {datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")} (took {took:.0f} s, server start included)
- Command: `{COMMAND}`

The project is corpuskit's own: `schema/taxonomy.yaml`'s label config, the documents of
`tests/data/valid/` (`plain.txt`, `record.json`, `batch.jsonl`) pushed by `corpuskit.studio.push`.
The annotators are synthetic accounts (`recorder-annotator-N@example.org`, named
"Recorder annotator N (synthetic)") that signed up by invite and took every task from Label
Studio's queue; their answers are the demo's keyword rule (`corpuskit.demo.demo_answer`), not
human judgements. Passwords and tokens were random, used once and never written; the files are
checked for them before they are kept.

Two files, one per export path of `corpuskit pull --method`:

- `export.json` (`export`): `GET /api/projects/<id>/export?exportType=JSON&download_all_tasks=true`.
  Annotators come as bare ids (`completed_by: 2`), predictions as bare ids.
- `export-snapshot.json` (`snapshot`, the default): an export snapshot asked for drafts,
  predictions and `completed_by` as full objects.

In both, a draft names its author by e-mail address only (`user: "recorder-annotator-3@example.org"`),
and a draft saved with `annotation: <id>` on a task its author had submitted is stored with
`annotation: null`.

What was done, in order:

| step | who | document | what |
| --- | --- | --- | --- |
{rows}

The conversion of each file is kept in `../expected/recorded--<file>`; `tests/unit/test_export_fixtures.py`
holds corpuskit to it. `.venv/bin/python scripts/record_exports.py --expected` rewrites those after a
deliberate change of the conversion.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expected", action="store_true", help="only rewrite expected/ from the fixtures")
    parser.add_argument("--out", type=Path, default=RECORDED, help="where the recorded exports go")
    options = parser.parse_args(argv)
    if not options.expected:
        record(options.out)
    for path in write_expected():
        print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
