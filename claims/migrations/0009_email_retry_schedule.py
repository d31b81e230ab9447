"""Email delivery as one retry schedule driven by the outbox row (SPEC §14 "Outages").

``next_attempt_at``: when a pending row is next due; the sweep (``emails_send_due``, beat) reads the partial
index ``emailnotification_due`` and a transient failure moves the time later (backoff up to 24 hours), instead of
countdown tasks and a requeue job that together started several retry chains per email. The CHECK makes "a
pending row nobody will ever send" impossible. ``message_id``: drawn at the first attempt and reused by every
later one.

Both columns have database defaults that PostgreSQL stores without rewriting the table (``now()`` is stable):
rows already pending become due at once, and SQL inserts that do not name the columns keep working.
"""

import django.db.models.functions.datetime
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("associations", "0001_initial"),
        ("claims", "0008_history_is_evidence"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="emailnotification",
            name="emailnotification_pending",
        ),
        migrations.AddField(
            model_name="emailnotification",
            name="message_id",
            field=models.CharField(blank=True, db_default="", default="", max_length=255),
        ),
        migrations.AddField(
            model_name="emailnotification",
            name="next_attempt_at",
            field=models.DateTimeField(
                blank=True,
                db_default=django.db.models.functions.datetime.Now(),
                default=django.utils.timezone.now,
                null=True,
            ),
        ),
        migrations.AddIndex(
            model_name="emailnotification",
            index=models.Index(
                condition=models.Q(("state", "pending")), fields=["next_attempt_at"], name="emailnotification_due"
            ),
        ),
        migrations.AddConstraint(
            model_name="emailnotification",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "pending"), _negated=True), ("next_attempt_at__isnull", False), _connector="OR"
                ),
                name="emailnotification_pending_is_scheduled",
            ),
        ),
    ]
