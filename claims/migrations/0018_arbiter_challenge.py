"""The challenge notice (SPEC §8): its email kind, and ``challenges_checked_at`` (when the holders of a challenger's
items were told; empty while a challenger's task has not run, which the requeue job sweeps through the partial index).
Claims validated before this migration are checked already: their challenges, if any, came before the notice existed.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('associations', '0003_userpreference_time_zone'),
        ('claims', '0017_desk_review_desk'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='claim',
            name='challenges_checked_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='emailnotification',
            name='kind',
            field=models.CharField(choices=[('customer_notified', 'Customer: opt-out notice'), ('action_required', 'Partner: action required'), ('rejected', 'Partner: rejected'), ('official', 'Partner: official'), ('opted_out', 'Partner: customer opted out'), ('ended', 'Partner: ended'), ('replaced', 'Other partner: association replaced'), ('rejected_final', 'Partner: rejected (final)'), ('answer_reminder', 'Partner: answer due tomorrow'), ('password_reset', 'User: password reset link'), ('webhook_disabled', 'User: webhook endpoint disabled'), ('challenged', 'Partner: another partner claims its products')], max_length=20),
        ),
        migrations.AddIndex(
            model_name='claim',
            index=models.Index(condition=models.Q(('challenges_checked_at__isnull', True), ('competing', True)), fields=['status_changed_at'], name='claim_challenge_unchecked'),
        ),
        migrations.RunSQL(
            "UPDATE claims_claim SET challenges_checked_at = now() "
            "WHERE challenges_checked_at IS NULL AND status NOT IN ('draft', 'submitted')",
            migrations.RunSQL.noop,
        ),
    ]
