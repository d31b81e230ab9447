"""The list's search plans from PostgreSQL's statistics of the search text (claims.selectors.search_plan): a
histogram of 1,000 values instead of 100, so that a share of 1% is ten values of the sample, and the trigrams
every claim holds stand out from the rare ones. ANALYZE then reads 300,000 rows of claims_claim (30,000 before):
a second or two at 2,000,000 claims, in autovacuum's background."""

from django.db import migrations

STATISTICS = """
ALTER TABLE claims_claim ALTER COLUMN search_text SET STATISTICS 1000;
ANALYZE claims_claim (search_text);
"""
STATISTICS_DEFAULT = "ALTER TABLE claims_claim ALTER COLUMN search_text SET STATISTICS -1;"


class Migration(migrations.Migration):
    dependencies = [("claims", "0019_customer_choices")]

    operations = [migrations.RunSQL(STATISTICS, STATISTICS_DEFAULT)]
