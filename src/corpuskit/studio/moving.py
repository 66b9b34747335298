"""Moving up: the embedded server's SQLite database into a team server's PostgreSQL, whole.

Label Studio is a Django application, so its own serialiser carries everything across with the
primary keys it had: users (the authors of every annotation, with their password hashes and API
tokens), organisations and memberships, projects with their settings, tasks with their data,
meta and overlap, annotations, drafts, predictions, exports. Project, task and annotation ids stay
the same, so push's local record and pulled snapshots keep pointing at the right things.

What does not move, and is said: log-in sessions (everyone logs in again), Django's content types
and permissions (recreated by the migrations), the admin log, background-job queues. After the
load every moved table is counted on both sides; a difference stops the move with the table named.
The SQLite file is kept beside, renamed, until the team server has been checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.errors import StudioError

# Django labels left out of the dump, and what that means for the people using the server.
NOT_MOVED: dict[str, str] = {
    "sessions": "log-in sessions: everyone logs in again on the team server",
    "contenttypes": "Django's content types: recreated by the migrations",
    "auth.permission": "Django's permission rows: recreated by the migrations",
    "admin.logentry": "the Django admin's change log",
    "django_rq": "background-job queue records",
}
MOVED_SUFFIX = ".moved-to-team"
_TIMEOUT = 3600.0

# Run inside Label Studio's Django: its settings module is a top-level package of its folder.
_PRELUDE = """
import json, os, sys
sys.path.insert(0, {ls_dir!r})
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings.label_studio")
import django
django.setup()
from django.core.management import call_command
"""

_DUMP = """
import datetime
from django.core.serializers import json as django_json
# Django's JSON encoder cuts times to milliseconds; Label Studio keeps microseconds, and a pull
# after the move must give the same timestamps as before it.
_default = django_json.DjangoJSONEncoder.default
def _exact(self, o):
    if isinstance(o, datetime.datetime | datetime.time):
        text = o.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return _default(self, o)
django_json.DjangoJSONEncoder.default = _exact
call_command("dumpdata", natural_foreign=True, exclude={excluded!r}, output={target!r}, verbosity=0)
"""

_LOAD = """
from django.apps import apps
from django.core.management.color import no_style
from django.db import connection
call_command("migrate", interactive=False, verbosity=0)
dumped = json.load(open({source!r}, encoding="utf-8"))
# Saving a user makes Label Studio create an API token for it: load the users' own tokens after,
# in place of those.
tokens = [item for item in dumped if item["model"] == "authtoken.token"]
rest = {source!r} + ".rest.json"
with open(rest, "w", encoding="utf-8") as handle:
    json.dump([item for item in dumped if item["model"] != "authtoken.token"], handle)
call_command("loaddata", rest, verbosity=0)
os.unlink(rest)
if tokens:
    from rest_framework.authtoken.models import Token
    Token.objects.all().delete()
    with open(rest, "w", encoding="utf-8") as handle:
        json.dump(tokens, handle)
    call_command("loaddata", rest, verbosity=0)
    os.unlink(rest)
tables = set(connection.introspection.table_names())
with connection.cursor() as cursor:
    for config in apps.get_app_configs():
        models = [m for m in config.get_models() if m._meta.db_table in tables]
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)
wanted = {{}}
for item in dumped:
    wanted.setdefault(item["model"], set()).add(item["pk"])
found = {{}}
for label, pks in wanted.items():
    model = apps.get_model(label)
    found[label] = model.objects.filter(pk__in=list(pks)).count() if None not in pks else len(pks)
print(json.dumps(found))
"""


@dataclass
class MoveReport:
    """What moved (rows per Django model, counted in PostgreSQL after the load) and what did not."""

    moved: dict[str, int] = field(default_factory=dict)
    not_moved: dict[str, str] = field(default_factory=lambda: dict(NOT_MOVED))
    kept: Path | None = None  # the SQLite file, renamed

    def count(self, *labels: str) -> int:
        return sum(self.moved.get(label, 0) for label in labels)

    def summary(self) -> str:
        users, projects = self.count("users.user"), self.count("projects.project")
        tasks, annotations = self.count("tasks.task"), self.count("tasks.annotation")
        drafts, predictions = self.count("tasks.annotationdraft"), self.count("tasks.prediction")
        return (
            f"moved {users} accounts, {projects} projects, {tasks} tasks, {annotations} annotations, "
            f"{drafts} drafts and {predictions} predictions (every author kept); not moved: "
            + "; ".join(self.not_moved.values())
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "moved": dict(sorted(self.moved.items())),
            "not_moved": self.not_moved,
            "kept": None if self.kept is None else str(self.kept),
        }


def label_studio_dir() -> Path:
    from importlib.util import find_spec

    spec = find_spec("label_studio")
    if spec is None or spec.origin is None:
        raise StudioError("label-studio is not installed: install corpuskit with the 'studio' extra")
    return Path(spec.origin).parent


def _django(env: dict[str, str], script: str, what: str) -> str:
    ls_dir = str(label_studio_dir())
    code = _PRELUDE.format(ls_dir=ls_dir) + script
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=ls_dir,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        from corpuskit.studio.client import scrub

        secrets = [v for k, v in env.items() if "PASSWORD" in k or "TOKEN" in k or "SECRET" in k]
        tail = scrub(" | ".join(done.stderr.strip().splitlines()[-3:]), secrets)
        raise StudioError(f"moving the embedded server's data: {what} failed: {tail}")
    return done.stdout


def dump_sqlite(env: dict[str, str], target: Path) -> Counter[str]:
    """Dump the embedded server's database (its environment in `env`) to `target`; rows per model."""
    excluded = list(NOT_MOVED)
    _django(env, _DUMP.format(excluded=excluded, target=str(target)), "reading the SQLite database")
    rows = json.loads(target.read_text(encoding="utf-8"))
    return Counter(str(item["model"]) for item in rows)


def load_postgres(env: dict[str, str], source: Path) -> dict[str, int]:
    """Migrate the PostgreSQL database in `env`, load the dump, reset its id sequences, and count
    how many of the dumped rows are there, per model."""
    out = _django(env, _LOAD.format(source=str(source)), "loading into PostgreSQL")
    found = json.loads(out.strip().splitlines()[-1])
    return {str(k): int(v) for k, v in found.items()}


def move_up(
    sqlite_env: dict[str, str], postgres_env: dict[str, str], database: Path, work: Path
) -> MoveReport:
    """Move everything from the SQLite database file `database` (read with `sqlite_env`) into the
    empty PostgreSQL database of `postgres_env`; the file is renamed when every row arrived."""
    dump = work / "label-studio-dump.json"
    try:
        dumped = dump_sqlite(sqlite_env, dump)
        loaded = load_postgres(postgres_env, dump)
    finally:
        dump.unlink(missing_ok=True)
    short = {label: (n, loaded.get(label, 0)) for label, n in dumped.items() if loaded.get(label, 0) != n}
    if short:
        label, (n, got) = sorted(short.items())[0]
        raise StudioError(
            f"moving the embedded server's data: {label}: {got} of {n} rows arrived in PostgreSQL; "
            f"nothing was removed ({database} is untouched)"
        )
    kept = database.with_name(database.name + MOVED_SUFFIX)
    database.rename(kept)
    return MoveReport(moved=dict(sorted(dumped.items())), kept=kept)
