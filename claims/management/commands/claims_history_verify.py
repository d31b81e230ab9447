"""Recompute every claim's hash chain in Python (claims.history) and compare it with what PostgreSQL stored;
exit 1 naming the first broken row."""

from contextlib import closing

from django.core.management.base import BaseCommand, CommandError

from claims.history import FIELDS, GENESIS, event_hash
from claims.models import ClaimEvent

# Rows fetched per round trip of the server-side cursor: memory stays flat on a million events.
CHUNK = 5000


class Command(BaseCommand):
    help = (
        "Check every ClaimEvent's prev_hash and hash against its claim's previous event and its own content, "
        "in (claim, id) order; exit 1 naming the first broken row."
    )

    def handle(self, *args, **options):
        rows = (
            ClaimEvent.objects.order_by("claim_id", "id")
            .values_list("id", "prev_hash", "hash", *FIELDS)
            .iterator(chunk_size=CHUNK)
        )
        # closing(): a broken row stops the loop early; the server-side cursor is closed then, not whenever the
        # generator happens to be collected (in another transaction, where closing it would fail).
        with closing(rows):
            events, claims = self._check(rows)
        self.stdout.write(f"OK: {events} events of {claims} claims, every hash chain whole.")

    def _check(self, rows):
        events = claims = 0
        claim_id = expected_prev = None
        # One query, so one snapshot: rows committed meanwhile are for the next run.
        for event_id, prev_hash, stored_hash, *values in rows:
            content = dict(zip(FIELDS, values, strict=True))
            if content["claim_id"] != claim_id:
                claim_id, expected_prev = content["claim_id"], GENESIS
                claims += 1
            if prev_hash != expected_prev:
                raise CommandError(
                    f"Claim {claim_id}, event {event_id}: prev_hash {prev_hash or '(empty)'} is not the hash of the "
                    f"claim's previous event ({expected_prev}): an event was removed, inserted or reordered."
                )
            recomputed = event_hash(prev_hash, content)
            if stored_hash != recomputed:
                raise CommandError(
                    f"Claim {claim_id}, event {event_id}: stored hash {stored_hash or '(empty)'} differs from the "
                    f"hash of its content ({recomputed}): the row was changed after it was written."
                )
            expected_prev = stored_hash
            events += 1
        return events, claims
