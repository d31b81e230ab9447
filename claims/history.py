"""History is evidence (SPEC §14): the canonical form of a ClaimEvent, its keyed hash, what a history says a claim
holds, and the signed checkpoints of the chains' heads. Pure functions: no database here.

**The chain.** Each ClaimEvent stores ``prev_hash``, the ``hash`` of the claim's previous event (by id;
``GENESIS`` for its first), ``hash = HMAC-SHA256(key, prev_hash || canonical(event))`` in lower-case hex, and
``key_id``, the id of the key that signed it (``settings.HISTORY_KEYS``: the first signs, the others still verify).
The key is never in PostgreSQL: the application signs each event before its INSERT (``claims.models.ClaimEvent``,
``claims.services.transitions``), and the database's BEFORE INSERT trigger only checks the link (migration 0012).
So the database's owner, who can switch triggers off and rewrite rows, cannot write a chain that verifies:
``manage.py claims_history_verify`` recomputes every hash here.

``key_id`` is not in the canonical form: it only names the key to verify with, and a row whose ``key_id`` was
changed names a key that does not verify it (or none).

``canonical(event)`` is UTF-8 text, one line per field of ``FIELDS`` in that order (the ``CHANGE_FIELDS`` only when
one of them is non-empty, ``data`` only when it is non-empty)::

    <name>=<length of the value in UTF-8 bytes>:<value>\\n

where a value is its text: ids in decimal, ``created_at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, strings as
they are, NULL as the empty string, ``data`` as canonical JSON (``data_text``). The byte length makes the form
unambiguous whatever a message contains.

**What the history says a claim holds** (``data``, SPEC §14 "state versus history"). The SUBMITTED event carries
``{"snapshot": …}``: the partner's columns (``SNAPSHOT_COLUMNS``), the items and the POE documents as submitted.
Later events carry what they changed: ``{"set": {column: value}}`` (an answer's edits), ``{"items_removed": [id]}``,
``{"documents_added": [{"id", "file", "sha256"}]}`` (an answer, a dispute, protecting an association). A claim's
status is the ``new_status`` of its last event that has one; a draft has no history. ``history_state`` folds a
history into (status, content) and ``state_difference`` names the first way a claim's rows differ from it.
"""

import datetime
import hashlib
import hmac
import json
import uuid

from django.conf import settings

GENESIS = "0" * 64
BASE_FIELDS = ("claim_id", "created_at", "actor", "user_id", "action", "old_status", "new_status", "reason", "message")
# A partner's change (migration 0010): in the form only when one of them is non-empty.
CHANGE_FIELDS = ("field", "old_value", "new_value")
# What the event says the claim holds (migration 0012): in the form only when non-empty.
DATA_FIELD = "data"
FIELDS = BASE_FIELDS + CHANGE_FIELDS + (DATA_FIELD,)


class UnknownKey(LookupError):
    """A row or checkpoint names a key that ``HISTORY_KEYS`` does not list."""


def history_keys():
    """{key id: secret bytes} of ``settings.HISTORY_KEYS``, the signing key first."""
    return {key_id: secret.encode() for key_id, secret in settings.HISTORY_KEYS}


def signing_key():
    """(id, secret bytes) of the key that signs new events and checkpoints: the first of ``HISTORY_KEYS``."""
    key_id, secret = settings.HISTORY_KEYS[0]
    return key_id, secret.encode()


def verifying_key(key_id):
    key = history_keys().get(key_id)
    if key is None:
        raise UnknownKey(key_id)
    return key


def data_text(data):
    """Canonical JSON of an event's ``data`` (sorted keys, no spaces, UTF-8 as is), or "" when it is empty."""
    if not data:
        return ""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _text(value):
    if value.__class__ is str:  # most values: as they are
        return value
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return str(value)


def _line(name, text):
    value = text.encode()
    return b"%s=%d:%s\n" % (name, len(value), value)


_NAMES = {name: name.encode() for name in FIELDS}


def event_canonical(values):
    """The canonical bytes of an event, from a mapping of ``FIELDS`` to their values (``data`` may be missing)."""
    lines = [_line(_NAMES[name], _text(values[name])) for name in BASE_FIELDS]
    changes = [_text(values.get(name)) for name in CHANGE_FIELDS]
    if any(changes):
        lines += [_line(_NAMES[name], text) for name, text in zip(CHANGE_FIELDS, changes, strict=True)]
    data = data_text(values.get(DATA_FIELD))
    if data:
        lines.append(_line(_NAMES[DATA_FIELD], data))
    return b"".join(lines)


def event_hash(prev_hash, values, *, key):
    """HMAC-SHA256(key, prev_hash || canonical(event)), in lower-case hex."""
    return hmac.new(key, prev_hash.encode("ascii") + event_canonical(values), hashlib.sha256).hexdigest()


def event_sign(prev_hash, values):
    """(key id, hash) of an event that follows ``prev_hash``, signed with the signing key."""
    key_id, key = signing_key()
    return key_id, event_hash(prev_hash, values, key=key)


# What a history says a claim holds -------------------------------------------------------------------------------

# The partner's columns of a submitted claim (frozen by PostgreSQL; the answer may change the MPN ID and contacts).
SNAPSHOT_COLUMNS = (
    "partner_id",
    "location_id",
    "name",
    "domain",
    "directory_id",
    "solution_area",
    "activities",
    "dynamics_seller_name",
    "customer_name",
    "isv_solution_name",
    "customer_contact_name",
    "customer_contact_title",
    "customer_contact_email",
    "technical_contact_name",
    "technical_contact_title",
    "technical_contact_email",
    "partner_contact_name",
    "partner_contact_email",
    "comments",
)
ITEM_COLUMNS = ("id", "program", "tenant_id", "product_id", "subscription_id")
DOCUMENT_COLUMNS = ("id", "file", "sha256")


def _json_value(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return str(value)  # a UUID, a FieldFile: their text


def _row(columns, row):
    """A mapping or an object with ``columns`` (``id`` or ``pk``) as a JSON-ready dict."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name if name != "id" else "pk")
    values = {name: _json_value(get(name)) for name in columns}
    if values.get("directory_id"):
        values["directory_id"] = str(uuid.UUID(values["directory_id"]))  # as PostgreSQL gives it back
    return values


def documents_data(documents):
    """[{"id", "file", "sha256"}] of PoeDocuments (or mappings), by id: what an event that adds POE carries."""
    return sorted((_row(DOCUMENT_COLUMNS, d) for d in documents), key=lambda d: d["id"])


def _outcome(item):
    return (item.get("outcome") if isinstance(item, dict) else getattr(item, "outcome", "")) or ""


def claim_content(claim, items, documents):
    """A claim's content as its history records it: the ``SNAPSHOT_COLUMNS`` of ``claim`` (a Claim or a mapping),
    its items' ``ITEM_COLUMNS`` and its documents' ``DOCUMENT_COLUMNS``, by id; and ``outcomes``, the items that
    ended while the claim went on ({str(item id): outcome}, ``ClaimItem.outcome``)."""
    return {
        "claim": _row(SNAPSHOT_COLUMNS, claim),
        "items": sorted((_row(ITEM_COLUMNS, i) for i in items), key=lambda i: i["id"]),
        "documents": documents_data(documents),
        "outcomes": {str(_row(("id",), i)["id"]): _outcome(i) for i in items if _outcome(i)},
    }


def item_outcomes_data(items, outcome):
    """What the event that ends ``items`` (ClaimItems) with ``outcome`` carries in its ``data``."""
    return {"item_outcomes": {str(item.pk): str(outcome) for item in sorted(items, key=lambda item: item.pk)}}


def history_state(events):
    """(status, content) that a claim's events (mappings with ``new_status`` and ``data``, in chain order) say it
    has: status None for no history (a draft), content None when no event carries a snapshot."""
    status, content = None, None
    for event in events:
        if event["new_status"]:
            status = event["new_status"]
        data = event.get(DATA_FIELD) or {}
        if "snapshot" in data:
            # Copies of what the events below change (the claim's columns, the lists); rows are never changed.
            snapshot = data["snapshot"]
            content = {
                "claim": dict(snapshot["claim"]),
                "items": snapshot["items"],
                "documents": snapshot["documents"],
                "outcomes": dict(snapshot.get("outcomes", {})),
            }
        if content is None:
            continue
        content["claim"].update(data.get("set", {}))
        removed = set(data.get("items_removed", ()))
        if removed:
            content["items"] = [i for i in content["items"] if i["id"] not in removed]
        if data.get("documents_added"):
            content["documents"] = sorted(content["documents"] + data["documents_added"], key=lambda d: d["id"])
        content["outcomes"].update(data.get("item_outcomes", {}))
    return status, content


def _by_id(rows):
    return {row["id"]: row for row in rows}


def state_difference(history_status, history_content, status, content):
    """The first way a claim's rows (``status``, ``content`` as ``claim_content`` gives it) differ from what its
    history says, as (what, the history's value, the row's), or None. Content is compared only when the history
    has a snapshot."""
    if history_status is None and status != "draft":
        return "status", "(no history: a draft)", status
    if history_status is not None and history_status != status:
        return "status", history_status, status
    if history_content is None:
        return None
    for name in SNAPSHOT_COLUMNS:
        said, has = history_content["claim"].get(name), content["claim"].get(name)
        if said != has:
            return name, said, has
    for kind, label in (("items", "item"), ("documents", "POE document")):
        said, has = _by_id(history_content[kind]), _by_id(content[kind])
        for row_id in sorted(said.keys() | has.keys()):
            if said.get(row_id) != has.get(row_id):
                return f"{label} {row_id}", said.get(row_id, "(none)"), has.get(row_id, "(none)")
    said, has = history_content["outcomes"], content["outcomes"]
    for item_id in sorted(said.keys() | has.keys(), key=int):
        if said.get(item_id) != has.get(item_id):
            return f"item {item_id} outcome", said.get(item_id, "(going on)"), has.get(item_id, "(going on)")
    return None


# Checkpoints: the chains' heads, signed, kept outside PostgreSQL -------------------------------------------------

CHECKPOINT_VERSION = 1
# Claims per bucket of a checkpoint: 200 buckets (about 25 KB) at 2,000,000 claims.
CHECKPOINT_BUCKET = 10_000


def checkpoint_text(body):
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def checkpoint_sign(body):
    """The checkpoint document: ``body`` with the signing key's id and the HMAC of its canonical JSON."""
    key_id, key = signing_key()
    body = {**body, "key_id": key_id}
    signature = hmac.new(key, checkpoint_text(body).encode(), hashlib.sha256).hexdigest()
    return checkpoint_text({**body, "signature": signature}).encode()


def checkpoint_open(content):
    """The body of a checkpoint document whose signature verifies; ValueError (or UnknownKey) otherwise."""
    try:
        document = json.loads(content)
        signature = document.pop("signature")
        key = verifying_key(document["key_id"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a checkpoint ({exc.__class__.__name__}: {exc})") from None
    expected = hmac.new(key, checkpoint_text(document).encode(), hashlib.sha256).hexdigest()
    if not isinstance(signature, str) or not hmac.compare_digest(signature, expected):
        raise ValueError("its signature does not verify: the file was changed after it was written")
    return document
