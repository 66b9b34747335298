"""`corpuskit push`: the valid documents into a Label Studio project, idempotently.

plan (pure: what to create, update, mark, leave) · incremental (the plan from the local record) ·
tasks (what a push reads of the project) · predictions · config (the project's settings) ·
apply (locked, batched, retried import and updates) · state + record (the local record) ·
run (`push` and its options).
"""

from corpuskit.studio.push.plan import REMOVED, STALE, Plan, ServerTask, make_plan, task_data
from corpuskit.studio.push.predictions import read_predictions
from corpuskit.studio.push.result import PushResult
from corpuskit.studio.push.run import PushOptions, push
from corpuskit.studio.push.tasks import read_tasks

__all__ = [
    "REMOVED",
    "STALE",
    "Plan",
    "PushOptions",
    "PushResult",
    "ServerTask",
    "make_plan",
    "push",
    "read_predictions",
    "read_tasks",
    "task_data",
]
