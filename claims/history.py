"""The canonical form of a ClaimEvent and its hash: the spec of the per-claim hash chain (SPEC §14).

Each ClaimEvent stores ``prev_hash``, the ``hash`` of the claim's previous event (by id; ``GENESIS`` for its first),
and ``hash = sha256(prev_hash || canonical(event))`` in lower-case hex. PostgreSQL computes both when a row is
inserted (migration 0008, function ``claims_claimevent_hash``); ``manage.py claims_history_verify`` recomputes
them here, in Python, so the two implementations check each other.

``canonical(event)`` is UTF-8 text, one line per field of ``FIELDS`` in that order (the ``CHANGE_FIELDS`` only
when one of them is non-empty)::

    <name>=<length of the value in UTF-8 bytes>:<value>\\n

where a value is its text: ids in decimal, ``created_at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, strings as
they are, NULL as the empty string. The byte length makes the form unambiguous whatever a message contains.
"""

import datetime
import hashlib

GENESIS = "0" * 64
BASE_FIELDS = ("claim_id", "created_at", "actor", "user_id", "action", "old_status", "new_status", "reason", "message")
# A partner's change (migration 0010): in the form only when one of them is non-empty, so that the hashes of
# every event written before they existed (and of every event that is not a change) stay what they were.
CHANGE_FIELDS = ("field", "old_value", "new_value")
FIELDS = BASE_FIELDS + CHANGE_FIELDS


def _text(value):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def event_canonical(values):
    """The canonical bytes of an event, from a mapping of ``FIELDS`` to their values."""
    lines = []
    names = FIELDS if any(_text(values.get(name)) for name in CHANGE_FIELDS) else BASE_FIELDS
    for name in names:
        value = _text(values[name]).encode()
        lines.append(f"{name}={len(value)}:".encode() + value + b"\n")
    return b"".join(lines)


def event_hash(prev_hash, values):
    """sha256(prev_hash || canonical(event)), in lower-case hex."""
    return hashlib.sha256(prev_hash.encode("ascii") + event_canonical(values)).hexdigest()
