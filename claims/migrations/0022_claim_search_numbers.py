"""The search text's numbers, whole (claims.selectors.search_plan.number_whole): a GIN index of each claim's runs of
digits without their leading zeros, so that the close matches of a typo ("Bench custmer 39999") read the claims
that hold the number 39999 itself, a posting list as long as the claims that hold it, instead of the trigram
index's candidates for the substring "39999" (at 2,000,000 bench claims: 57 claims hold the number, and the
substring's candidates were 962 shared buffers of claims whose longer numbers, or scattered digits, hold its
trigrams: claim numbers, six-digit customer numbers, Directory IDs).

An index on an expression of search_text: no column, no row rewritten; PostgreSQL keeps it with the search text
(migration 0015's triggers). Built CONCURRENTLY (outside a transaction): writes to claims_claim go on meanwhile;
then ANALYZE, for the statistics of the indexed expression (the planner's estimate of a number's claims; only an
ANALYZE of the whole table computes them; a share lock: reads and writes go on). Measured on the bench databases
(load average 3 to 6): 25 s at 200,000 claims (2 s for the expression, 17 s for the ANALYZE), 109 s at 2,000,000
(about 80 s for the index, 166 MB, beside the trigram index's 345 MB; 26 s for the ANALYZE). A build that fails
leaves an invalid index that this migration then refuses to build over: drop it (``DROP INDEX CONCURRENTLY
claim_search_numbers``) and migrate again.
"""

from django.db import migrations

NUMBERS_INDEX = r"""
CREATE INDEX CONCURRENTLY claim_search_numbers ON claims_claim
    USING gin ((regexp_split_to_array(search_text, '[^0-9]+(?:0+(?=[0-9]))?')))
"""
NUMBERS_INDEX_DROP = "DROP INDEX CONCURRENTLY IF EXISTS claim_search_numbers;"


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("claims", "0021_review_queue_indexes")]

    # One statement at a time: CONCURRENTLY refuses to run in a transaction, and several statements sent at once
    # are one.
    operations = [migrations.RunSQL([NUMBERS_INDEX, "ANALYZE claims_claim"], [NUMBERS_INDEX_DROP])]
