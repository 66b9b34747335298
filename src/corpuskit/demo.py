"""`corpuskit demo`: the main job end to end on the embedded Label Studio, with synthetic annotators.

validate -> push -> three demo accounts sign up by invite and label from Label Studio's queue until
it is empty (each document reaches `annotators_per_document` of them) -> pull -> agreement and gold ->
release into `demo/releases/` -> load it back with `datasets`. The demo annotations are made by a
deterministic rule, never by people: the accounts are called "DEMO annotator N (synthetic)", their
e-mails are `demo-annotator-N@example.org`, the dataset card says so, and so does the summary.
Everything lives in its own Label Studio project and under `demo/`, apart from the real corpus
project, `annotations/` and `releases/`.

The accounts ask the queue for their next task as a browser does (`corpuskit.studio.members`),
never choosing tasks: the demo shows the same overlap and blindness a real team gets. Their
passwords are generated and kept in the studio folder (mode 0600).

Run twice, it changes nothing it doesn't need to: the server keeps running, push plans no change,
the queue is empty for every account, and a release is only built when its data would differ.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from corpuskit.errors import DataError
from corpuskit.settings import Settings, load_settings

DEMO_FOLDER = "demo"
DEMO_PROJECT_TITLE = "corpuskit demo (synthetic annotations)"
DEMO_ANNOTATORS = 3
DEMO_VERSION = "0.1.0"
DEMO_ACCOUNTS_FILE = "demo-accounts.json"

# Words that make the synthetic annotators pick a topic or see a target discussed. Deliberately
# crude: the point is a plausible, reproducible pattern of agreement and disagreement, not labels.
_TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "military_cooperation": ("military cooperation", "defence minister", "defense minister"),
    "arms_transfers": ("weapons", "munitions", "tanks", "arms"),
    "troop_deployment": ("troops", "soldiers", "deployed"),
    "sanctions_un_resolutions": ("sanctions", "security council", "un "),
    "nuclear_programme": ("nuclear",),
    "war_in_ukraine": ("ukraine", "kyiv"),
    "diplomacy_summits": ("summit", "visit", "met ", "phone call", "foreign minister"),
    "alliances_exercises": ("exercises", "allies", "alliance"),
    "economic_aid": ("economic aid", "package"),
    "weapons_development": ("submarine", "warships", "missile"),
    "international_law": ("international law", "illegal", "rules-based"),
}
_TARGET_WORDS: dict[str, tuple[tuple[str, ...], str]] = {
    # target id -> (words that must all appear, the stance the rule then picks)
    "rnk_military_cooperation": (("russia", "north korea", "military"), "against"),
    "ukraine_military_aid": (("ukraine", "weapons"), "neutral"),
}


@dataclass
class DemoResult:
    """What the demo did and where things are; `summary_lines()` is what the CLI prints last."""

    url: str
    project_id: int
    documents: int
    annotations_created: int
    annotations: int
    alpha: dict[str, float | None]
    release_folder: Path
    release_built: bool
    loaded_rows: dict[str, int]
    shortfalls: list[str] = field(default_factory=list)
    annotators_per_document: int = 2
    by_annotators: dict[int, int] = field(default_factory=dict)  # documents by distinct annotators
    suggest: str = ""  # why the model-in-the-loop step does not train on the demo

    def summary_lines(self) -> list[str]:
        lines = [
            "corpuskit demo finished: the annotations below are SYNTHETIC demo data, not human labels.",
            f"  documents:    {self.documents}",
            f"  annotations:  {self.annotations} by {DEMO_ANNOTATORS} demo accounts "
            f"({self.annotations_created} created in this run), each taken from Label Studio's queue",
        ]
        k = self.annotators_per_document
        reached = self.by_annotators.get(k, 0)
        shown = ", ".join(f"{n} annotators: {c}" for n, c in sorted(self.by_annotators.items()))
        if reached == self.documents:
            lines.append(
                f"  overlap:      every document reached {k} independent annotators through the queue"
            )
        else:
            lines.append(
                f"  overlap:      {reached} of {self.documents} documents reached {k} annotators ({shown})"
            )
        for name, value in self.alpha.items():
            shown = "undefined (too few items or no variation)" if value is None else f"{value:.3f}"
            lines.append(f"  alpha {name}: {shown}")
        built = "built" if self.release_built else "unchanged, not rebuilt"
        lines.append(f"  release:      {self.release_folder} ({built})")
        loaded = ", ".join(f"{split} {n}" for split, n in self.loaded_rows.items())
        lines.append(f"  loaded back with datasets.load_dataset(..., 'gold'): {loaded}")
        if self.shortfalls:
            lines.append(f"  below the quality thresholds (recorded in the card): {len(self.shortfalls)}")
        if self.suggest:
            lines.append(f"  model:        {self.suggest}")
        lines += [
            "",
            f"Annotate for real: open {self.url} (corpuskit studio open);",
            "  `corpuskit studio credentials` prints the login; `corpuskit push` creates the real project;",
            "  then `corpuskit pull`, `corpuskit agreement`, `corpuskit release 1.0.0`.",
            "  `corpuskit studio stop` stops the server.",
        ]
        return lines


def demo_settings(settings: Settings) -> Settings:
    """The corpus settings with the demo's own project, snapshot and releases, on the embedded server."""
    root = settings.root / DEMO_FOLDER
    return replace(
        settings,
        project_title=DEMO_PROJECT_TITLE,
        annotations=str(root / "annotations"),
        releases=str(root / "releases"),
        label_studio_url=None,
        label_studio_api_key=None,
    )


def _pick(*parts: str) -> float:
    """A number in [0, 1) that depends only on its inputs (the demo must be reproducible)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def demo_answer(
    document_id: str, text: str, annotator: int, taxonomy: Any
) -> tuple[dict[str, str], list[str], list[dict[str, Any]]]:
    """Stance per target, topics and evidence spans that demo annotator `annotator` (1-based) gives.

    A keyword rule gives every annotator the same starting answer; each then deviates on some
    labels, annotator 3 more often, so the demo shows both agreement and disagreement."""
    lowered = text.lower()
    deviation = 0.15 if annotator < DEMO_ANNOTATORS else 0.35
    values = list(taxonomy.stance_value_ids)
    stance: dict[str, str] = {}
    spans: list[dict[str, Any]] = []
    for target in taxonomy.targets:
        words, chosen = _TARGET_WORDS.get(target.id, ((), "neutral"))
        label = chosen if words and all(w in lowered for w in words) else "unrelated"
        if _pick(document_id, target.id, str(annotator)) < deviation:
            others = [v for v in values if v != label]
            label = others[int(_pick(document_id, target.id, str(annotator), "to") * len(others))]
        stance[target.id] = label
        if label != "unrelated" and words:
            span = _evidence_sentence(text, words[0])
            if span is not None:
                start, end = span
                spans.append(
                    {
                        "start": start,
                        "end": end,
                        "text": text[start:end],
                        "target": target.id,
                        "speaker": None,
                    }
                )
    topics = [
        topic
        for topic in taxonomy.topic_ids
        if any(w in lowered for w in _TOPIC_WORDS.get(topic, ()))
        and _pick(document_id, topic, str(annotator)) >= deviation
    ]
    return stance, topics, spans


_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")


def _evidence_sentence(text: str, word: str) -> tuple[int, int] | None:
    """Offsets of the first sentence that mentions `word` (trimmed of surrounding spaces)."""
    for match in _SENTENCE.finditer(text):
        if word in match.group(0).lower():
            start, end = match.span()
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            return (start, end) if end > start else None
    return None


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _demo_accounts(client: Any, data_dir: Path) -> list[Any]:
    """The three demo accounts, logged in: signed up by invite on first use (password generated and
    stored with mode 0600 beside the server's credentials), named so nobody takes them for people."""
    from corpuskit.studio import server
    from corpuskit.studio.gateway import Gateway
    from corpuskit.studio.members import log_in, sign_up

    path = data_dir / DEMO_ACCOUNTS_FILE
    try:
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = {}
    users = Gateway(client).users
    taken = {u.get("email") for u in users.list()}
    members = []
    invite = None
    for n in range(1, DEMO_ANNOTATORS + 1):
        email = f"demo-annotator-{n}@example.org"
        suffix = 1
        # An account of that name made without a stored password (an older demo) cannot log in.
        while email in taken and email not in stored:
            suffix += 1
            email = f"demo-annotator-{n}.{suffix}@example.org"
        if email in stored:
            member = log_in(client.url, email, stored[email])
        else:
            invite = invite or users.invite_link()
            stored[email] = secrets.token_urlsafe(18)
            server.write_private(path, json.dumps(stored, indent=2) + "\n")
            member = sign_up(invite, email, stored[email])
            assert member.user_id is not None
            users.update(
                member.user_id,
                {"first_name": f"DEMO annotator {n}", "last_name": "(synthetic)"},
                what=f"name demo account {email}",
            )
        member.number = n
        members.append(member)
    return members


def _annotate_from_queue(
    project_id: int, taxonomy: Any, members: Sequence[Any], budget: int, progress: bool
) -> int:
    """Each account in turn asks the queue for its next task and answers it, until every queue is
    empty; returns how many annotations were made. `budget` bounds the loop (tasks x accounts)."""
    from tqdm import tqdm

    from corpuskit.taxonomy import row_to_result

    created = 0
    active = list(members)
    with tqdm(desc="demo annotations", unit="ann", disable=not progress, file=sys.stderr) as bar:
        while active and created < budget:
            for member in list(active):
                task = member.next_task(project_id)
                if task is None:
                    active.remove(member)
                    continue
                data = task.get("data") or {}
                doc_id, text = str(data.get("doc_id")), str(data.get("text", ""))
                stance, topics, spans = demo_answer(doc_id, text, member.number, taxonomy)
                result = row_to_result(taxonomy, {"stance": stance, "topics": topics, "spans": spans}, text)
                lead = round(20 + 100 * _pick(doc_id, str(member.number), "lead"), 1)
                member.submit(int(task["id"]), project_id, result, lead)
                created += 1
                bar.update(1)
    return created


def _data_checksums(folder: Path) -> dict[str, str]:
    from corpuskit.release.manifest import read_manifest

    files = read_manifest(folder).get("files", {})
    if isinstance(files, list):
        files = {f["path"]: f for f in files}
    return {path: info["sha256"] for path, info in files.items() if str(path).startswith("data/")}


def _release(settings: Settings, progress: bool) -> tuple[Path, bool, list[str]]:
    """Build the demo release, or keep the latest one when its data would be the same."""
    from corpuskit.release.api import release

    releases = settings.path(settings.releases)
    existing = (
        sorted(p for p in releases.glob("v*") if (p / "manifest.json").is_file()) if releases.is_dir() else []
    )
    if not existing:
        result = release(DEMO_VERSION, out=releases, allow_below_threshold=True, settings=settings)
        return result.folder, True, result.shortfalls
    latest = max(existing, key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.name)[:3]))
    with tempfile.TemporaryDirectory(prefix=".demo-release-", dir=releases) as scratch:
        trial = release(latest.name.lstrip("v"), out=scratch, allow_below_threshold=True, settings=settings)
        if _data_checksums(trial.folder) == _data_checksums(latest):
            return latest, False, trial.shortfalls
    result = release(bump="patch", out=releases, allow_below_threshold=True, settings=settings)
    return result.folder, True, result.shortfalls


def run_demo(
    settings: Settings | None = None,
    *,
    progress: bool | None = None,
    say: Callable[[str], None] = _say,
) -> DemoResult:
    """Run the main job end to end on the embedded Label Studio with three synthetic annotators."""
    from corpuskit.quality.agreement import agreement
    from corpuskit.quality.gold import gold, write_gold
    from corpuskit.release.load import load
    from corpuskit.snapshot import GOLD_FILE, iter_table
    from corpuskit.studio import server
    from corpuskit.studio.client import StudioClient, connection
    from corpuskit.studio.pull import pull
    from corpuskit.studio.push import push, read_tasks
    from corpuskit.taxonomy import load_taxonomy
    from corpuskit.validation.api import validate

    base = settings or load_settings()
    settings = demo_settings(base)
    if progress is None:
        progress = sys.stderr.isatty()
    steps = 8

    say(f"[1/{steps}] starting the embedded Label Studio (about 30 s the first time)")
    running = server.start(base.path(base.studio_dir), progress=progress)

    say(f"[2/{steps}] validating {settings.raw}/")
    checked = validate(settings=settings, progress=progress)
    if not checked.ok:
        first = next((str(d) for d in checked.diagnostics if d.severity == "error"), "see corpuskit validate")
        raise DataError(f"the corpus does not validate: {first}")

    say(f"[3/{steps}] pushing the documents to the demo project {DEMO_PROJECT_TITLE!r}")
    pushed = push(settings=settings, progress=progress)
    assert pushed.project_id is not None
    project_id = pushed.project_id
    counts = pushed.plan.counts()
    say(f"        {pushed.created} new, {pushed.updated} updated, {counts['unchanged']} unchanged")

    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    snapshot = settings.path(settings.annotations)
    k = settings.annotators_per_document
    say(
        f"[4/{steps}] {DEMO_ANNOTATORS} demo accounts label from Label Studio's queue until it is empty "
        f"({k} per document; synthetic, deterministic)"
    )
    with StudioClient(connection(settings)) as client:
        members = _demo_accounts(client, base.path(base.studio_dir))
        tasks = [t for t in read_tasks(client, project_id) if t.doc_id is not None]
        try:
            created = _annotate_from_queue(project_id, taxonomy, members, len(tasks) * len(members), progress)
        finally:
            for member in members:
                member.close()
    say(f"        {created} created in this run")

    say(f"[5/{steps}] pulling every annotation into {snapshot}")
    pulled = pull(project=project_id, settings=settings)
    if created and pulled.counts["annotations"] < created:
        raise DataError(
            f"the pull found {pulled.counts['annotations']} annotations after {created} were made"
        )

    say(f"[6/{steps}] agreement and gold labels")
    result = agreement(snapshot, taxonomy=taxonomy)
    people: dict[str, set[Any]] = {}
    for row in iter_table(snapshot, "annotations"):
        if not row.get("was_cancelled"):
            people.setdefault(row["document_id"], set()).add((row.get("annotator") or {}).get("id"))
    by_annotators: dict[int, int] = {}
    for task in tasks:
        n = len(people.get(str(task.doc_id), ()))
        by_annotators[n] = by_annotators.get(n, 0) + 1
    write_gold(gold(snapshot, taxonomy=taxonomy), snapshot / GOLD_FILE)
    alpha = {c.name: c.alpha.value for c in result.stance}
    alpha["topics (MASI)"] = result.topic_set.alpha.value

    model_line = suggest_line(snapshot, settings)
    say(f"        {model_line}")

    say(f"[7/{steps}] building the release under {settings.releases}")
    folder, built, shortfalls = _release(settings, progress)

    say(f"[8/{steps}] loading it back with datasets.load_dataset")
    loaded = load(folder, config="gold")
    rows = {split: len(loaded[split]) for split in loaded}
    return DemoResult(
        url=running.url,
        project_id=project_id,
        documents=len(tasks),
        annotations_created=created,
        annotations=pulled.counts["annotations"],
        alpha=alpha,
        release_folder=folder,
        release_built=built,
        loaded_rows=rows,
        shortfalls=shortfalls,
        annotators_per_document=k,
        by_annotators=by_annotators,
        suggest=model_line,
    )


def suggest_line(snapshot: Path, settings: Settings) -> str:
    """The model-in-the-loop step in one line: what `corpuskit suggest` makes of the demo's gold
    (with two documents, why it would not push)."""
    from corpuskit.taxonomy import load_taxonomy

    try:
        from corpuskit.suggest import fit
    except ModuleNotFoundError:
        from corpuskit.extras import install_command

        return f"`corpuskit suggest` needs the suggest extra: {install_command('suggest')}"
    suggester = fit(
        snapshot, settings=settings, taxonomy=load_taxonomy(settings.path(settings.taxonomy)), curve=False
    )
    if suggester.ready:
        return f"`corpuskit suggest` would pre-label with model {suggester.model_version}"
    return f"`corpuskit suggest` would not push a model trained here: {suggester.reasons[0]}"


def reset_demo(settings: Settings | None = None) -> None:
    """Remove the demo's local files (`demo/`); the Label Studio project stays on the server."""
    settings = settings or load_settings()
    shutil.rmtree(settings.root / DEMO_FOLDER, ignore_errors=True)
