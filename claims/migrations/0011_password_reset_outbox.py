"""Password resets through the outbox (SPEC §14 "Outages": an SMTP outage loses no email, and a reset request
never waits for SMTP).

An outbox row without a claim: kind ``password_reset``, the ``address`` asked for and the account it belongs to
(``user``; none for an address without an account, whose row sends nothing). The CHECK keeps the two shapes apart:
claims' emails have a claim and no address, a reset has an address and no claim. The existing partial unique
constraints stay as they are: each includes ``claim_id`` or ``event_id``, NULL on a reset's row, and NULLs are
distinct in PostgreSQL's unique indexes, so resets never collide with each other or with claims' emails.
``emailnotification_reset`` serves the limit per address (its rows of the last period).
"""


import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('associations', '0002_userpreference'),
        ('claims', '0010_claim_life'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='emailnotification',
            name='address',
            field=models.EmailField(blank=True, db_default='', default='', max_length=254),
        ),
        migrations.AddField(
            model_name='emailnotification',
            name='user',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='emailnotification',
            name='claim',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='emails', to='claims.claim'),
        ),
        migrations.AlterField(
            model_name='emailnotification',
            name='kind',
            field=models.CharField(choices=[('customer_notified', 'Customer: opt-out notice'), ('action_required', 'Partner: action required'), ('rejected', 'Partner: rejected'), ('official', 'Partner: official'), ('opted_out', 'Partner: customer opted out'), ('ended', 'Partner: ended'), ('replaced', 'Other partner: association replaced'), ('rejected_final', 'Partner: rejected (final)'), ('answer_reminder', 'Partner: answer due tomorrow'), ('password_reset', 'User: password reset link')], max_length=20),
        ),
        migrations.AddIndex(
            model_name='emailnotification',
            index=models.Index(condition=models.Q(('kind', 'password_reset')), fields=['address', 'created_at'], name='emailnotification_reset'),
        ),
        migrations.AddConstraint(
            model_name='emailnotification',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('address__gt', ''), ('association', None), ('claim', None), ('event', None), ('kind', 'password_reset')), models.Q(models.Q(('kind', 'password_reset'), _negated=True), ('address', ''), ('claim__isnull', False), ('user', None)), _connector='OR'), name='emailnotification_claim_or_password_reset'),
        ),
    ]
