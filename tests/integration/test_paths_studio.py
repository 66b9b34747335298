"""Ids that try to leave their folder, on a real Label Studio: a foreign task's escaping doc_id stays data.

The checks that need no server are in tests/unit/test_paths.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from corpuskit.settings import Settings
from corpuskit.studio.server import StudioServer
from support.reliability_log import reliability  # noqa: F401 (the fixture)

pytestmark = pytest.mark.usefixtures("reliability")


@pytest.mark.studio
def test_pull_keeps_a_foreign_tasks_escaping_doc_id_as_data(
    tmp_path: Path, studio_server: StudioServer
) -> None:
    """A task put on the server by someone else, with data.doc_id '../../evil': pull writes only the
    snapshot's own files, inside the snapshot folder, and the id stays a value in the rows."""
    from corpuskit.studio.client import Connection, StudioClient
    from corpuskit.studio.gateway import Gateway
    from corpuskit.studio.pull import pull
    from corpuskit.taxonomy import load_taxonomy
    from support.release_corpus import REPO

    taxonomy = load_taxonomy(REPO / "schema" / "taxonomy.yaml")
    with StudioClient(Connection(studio_server.url, studio_server.token)) as client:
        studio = Gateway(client)
        project_id = studio.projects.create(
            {
                "title": "paths test: foreign task",
                "label_config": '<View><Text name="text" value="$text"/>'
                '<Choices name="c" toName="text"><Choice value="a"/></Choices></View>',
            }
        )
        studio.tasks.import_once(
            project_id,
            [
                {"doc_id": "../../evil", "text": "Planted."},
                {"doc_id": "/etc/passwd", "text": "Also planted."},
            ],
        )
    work = tmp_path / "work"
    out = work / "annotations"
    work.mkdir()
    pull(
        project=project_id,
        out=out,
        settings=Settings(root=work),
        taxonomy=taxonomy,
        url=studio_server.url,
        token=studio_server.token,
    )
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    # Besides the snapshot, pull keeps only its record of what it saw (for an unchanged re-pull).
    state = {p for p in written if p.startswith("work/.corpuskit")}
    assert state - {"work/.corpuskit", "work/.corpuskit/pull-state"} == {
        f"work/.corpuskit/pull-state/{name}" for name in os.listdir(work / ".corpuskit" / "pull-state")
    }
    assert all(
        name.endswith(f"-{project_id}.json") for name in os.listdir(work / ".corpuskit" / "pull-state")
    )
    assert written - state == {
        "work",
        "work/annotations",
        *(f"work/annotations/{name}" for name in os.listdir(out)),
    }
    assert sorted(os.listdir(out)) == [
        "annotations.jsonl",
        "drafts.jsonl",
        "predictions.jsonl",
        "problems.jsonl",
        "snapshot.json",
        "tasks.jsonl",
    ]
    tasks = [json.loads(line) for line in (out / "tasks.jsonl").read_text().splitlines()]
    assert sorted(task["document_id"] for task in tasks) == ["../../evil", "/etc/passwd"]
