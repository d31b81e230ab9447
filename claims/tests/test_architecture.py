"""The shape the code must keep: no import circles (import-linter contracts, in `make test`), a tasks module that
loads alone, task names that beat and queued messages rely on, and every status change through one write."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TASK_NAMES = [
    "claims.tasks.answer_reminders_send_task",
    "claims.tasks.associations_end_expired_task",
    "claims.tasks.claim_challenges_notify_task",
    "claims.tasks.claim_counts_compact_task",
    "claims.tasks.claim_validate_task",
    "claims.tasks.claims_due_lapse_task",
    "claims.tasks.claims_expire_drafts_task",
    "claims.tasks.claims_expire_information_requests_task",
    "claims.tasks.claims_finalize_due_task",
    "claims.tasks.email_notification_send_task",
    "claims.tasks.email_notifications_send_task",
    "claims.tasks.emails_send_due_task",
    "claims.tasks.history_checkpoint_task",
    "claims.tasks.lifecycle_requeue_task",
    "claims.tasks.pending_uploads_purge_task",
]

FRESH_IMPORT = """
import sys
import claims.tasks  # first, alone: before Django is set up, as nothing else has been imported
loaded = sorted(m for m in sys.modules if m.startswith(("claims.", "associations.")))
assert loaded == ["claims.tasks"], loaded

import django
django.setup()
from cpor.celery import app
import api.tasks  # the partner API's tasks, as the worker's autodiscovery registers them (beat names two)
names = sorted(n for n in app.tasks if n.startswith("claims."))
scheduled = sorted({entry["task"] for entry in app.conf.beat_schedule.values()} - set(app.tasks))
print(names)
print(scheduled)
"""


def test_tasks_module_imports_alone_in_a_fresh_interpreter_with_the_same_task_names():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cpor.test_settings"}
    result = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    names, unscheduled = result.stdout.strip().splitlines()[-2:]
    assert names == repr(TASK_NAMES)
    assert unscheduled == "[]"  # every beat entry names a registered task


def test_claims_modules_stay_small():
    """No module of claims (tests and migrations aside) grows past about 500 lines: split it by concern."""
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in (ROOT / "claims").rglob("*.py")
        if "migrations" not in path.parts and "tests" not in path.parts
    }
    assert len(sizes) > 20
    assert {path: lines for path, lines in sizes.items() if lines > 520} == {}


def test_no_database_vendor_switch_in_python():
    hits = subprocess.run(
        [
            "git",
            "grep",
            "-nE",
            r"connection\.vendor|sqlite[3]|sqlite:[/]/",
            "--",
            "*.py",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    code = [line for line in hits.splitlines() if not line.split(":", 2)[2].lstrip().startswith("#")]
    assert code == []
