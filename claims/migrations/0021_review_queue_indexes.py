"""The reviewers' pages at scale (SPEC §11): the list of every claim, or of a status, in the queue's order
(claim_due, claim_status_due: a page, or page 4,000, read from the index instead of sorting 200,000 claims), and the reviewer's numbers from the decisions'
own index (claimevent_reviewer_decided, with their claims: read from the index alone; it replaces the index of
every reviewer event, which only those numbers read)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('associations', '0005_customer_declined'),
        ('claims', '0020_perf_search_statistics'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='claimevent',
            name='claimevent_reviewer_created',
        ),
        migrations.AddIndex(
            model_name='claim',
            index=models.Index(fields=['due_at', 'id'], include=('status',), name='claim_due'),
        ),
        migrations.AddIndex(
            model_name='claim',
            index=models.Index(fields=['status', 'due_at', 'id'], name='claim_status_due'),
        ),
        migrations.AddIndex(
            model_name='claimevent',
            index=models.Index(condition=models.Q(('action__in', ['approved', 'information_requested', 'rejected', 'dispute_rejected']), ('actor', 'reviewer')), fields=['created_at'], include=('claim',), name='claimevent_reviewer_decided'),
        ),
    ]
