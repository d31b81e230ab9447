"""Decisions per item (SPEC §7, §8): ``ClaimItem.outcome`` says how an item ended while its claim went on with the
others (a reviewer rejected it, the customer opted out of it or ended it later), with the reason and the moment.

PostgreSQL keeps an outcome once written: ``claims_claimitem_outcome_once`` refuses to change or clear it (and its
reason and moment), whoever writes, so that two actors racing on one item (the customer's opt-out and the
finalization sweep, a reviewer and the customer) get exactly one outcome.
"""

from django.db import migrations, models

OUTCOME_ONCE = """
CREATE OR REPLACE FUNCTION claims_claimitem_outcome_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'Item % of claim % already ended (%): its outcome is never changed.', OLD.id, OLD.claim_id,
        OLD.outcome
        USING ERRCODE = 'restrict_violation';
END;
$$;
DROP TRIGGER IF EXISTS claims_claimitem_outcome_once ON claims_claimitem;
CREATE TRIGGER claims_claimitem_outcome_once BEFORE UPDATE OF outcome, outcome_reason, outcome_at ON claims_claimitem
    FOR EACH ROW WHEN (OLD.outcome <> '' AND (NEW.outcome, NEW.outcome_reason, NEW.outcome_at)
                       IS DISTINCT FROM (OLD.outcome, OLD.outcome_reason, OLD.outcome_at))
    EXECUTE FUNCTION claims_claimitem_outcome_once();
"""
OUTCOME_ONCE_DROP = """
DROP TRIGGER IF EXISTS claims_claimitem_outcome_once ON claims_claimitem;
DROP FUNCTION IF EXISTS claims_claimitem_outcome_once();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('associations', '0002_userpreference'),
        ('claims', '0013_notice_delivery'),
    ]

    operations = [
        migrations.AddField(
            model_name='claimitem',
            name='outcome',
            field=models.CharField(blank=True, choices=[('', 'Going on'), ('rejected', 'Rejected by the reviewer'), ('opted_out', 'The customer opted out'), ('declined', 'The customer ended it')], db_default='', default='', max_length=20),
        ),
        migrations.AddField(
            model_name='claimitem',
            name='outcome_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='claimitem',
            name='outcome_reason',
            field=models.TextField(blank=True, db_default='', default=''),
        ),
        migrations.AddConstraint(
            model_name='claimitem',
            constraint=models.CheckConstraint(condition=models.Q(('outcome__in', ['', 'rejected', 'opted_out', 'declined']), models.Q(('outcome', ''), ('outcome_at__isnull', False), _connector='OR')), name='claimitem_outcome_known_and_dated'),
        ),
        migrations.RunSQL(OUTCOME_ONCE, OUTCOME_ONCE_DROP),
    ]
