"""History is evidence against the database's owner (SPEC §14, issue 14; migration 0012, ``claims.history``,
``claims.services.evidence``): the chains are keyed with a secret PostgreSQL never sees, every claim is compared
with what its history says, and signed checkpoints of the chains' heads live outside PostgreSQL.

Each attack below is made as the database's OWNER would make it, on its own connection (``owner_db``), with the
triggers switched off (``SET LOCAL session_replication_role = replica``) and committed; then
``manage.py claims_history_verify`` must exit 1 naming what changed.
"""

import datetime
import importlib
import io
import json
import types

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from claims.history import GENESIS, event_sign
from claims.models import Claim, ClaimEvent, ClaimStatus, PoeDocument
from claims.services import (
    claim_approve,
    claim_request_information,
    claim_respond,
    claim_transition,
    claim_validate,
    claims_finalize_due,
    emails_send_due,
)
from claims.services.disputes import claim_protect
from claims.services.evidence import CHECKPOINT_DIR, history_checkpoint_write
from claims.services.transitions import claim_event_record
from claims.tasks import history_checkpoint_task
from claims.tests.factories import PDF_BYTES, claim_make
from claims.tests.wizard_steps import submit, walk_m365
from claims.uploads import poe_check
from conftest import owner_connect
from cpor.celery import app

S = ClaimStatus
KEYED = importlib.import_module("claims.migrations.0012_history_keyed")


def _as_owner(owner_db, statement, params=()):
    """Change the database as its owner can, behind every trigger's back, and commit; returns the rows."""
    with owner_db.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(statement, params)
        rows = cursor.fetchall() if cursor.description else []
    owner_db.commit()
    return rows


def _poe(name):
    upload = SimpleUploadedFile(name, PDF_BYTES)
    return upload, poe_check(upload)


def _verify(*args):
    out = io.StringIO()
    call_command("claims_history_verify", *args, stdout=out)
    return out.getvalue()


def _verify_fails():
    """(the error, what verify printed before it)."""
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("claims_history_verify", stdout=out)
    return str(error.value), out.getvalue()


def _events(claim):
    return list(ClaimEvent.objects.filter(claim=claim).order_by("id"))


@pytest.fixture
def life(transactional_db, client_a, partner_a, m365_tenant, products, reviewer, s3_objects):
    """A claim's whole realistic life, committed: submitted through the wizard (two products), validated,
    information requested, answered with edits (MPN ID, a contact, a product removed) and a POE file, approved,
    finalized past its deadline, then protected with another POE file. Its id is 1, whatever the worker's earlier
    tests made: the checkpoints' buckets of claim ids are named in the assertions (the owner sets the sequence; the
    table is empty at a transactional test's start)."""
    with owner_connect() as owner:
        owner.execute("SELECT setval(pg_get_serial_sequence('claims_claim', 'id'), 1, false)")
    key = walk_m365(client_a, [products["microsoft-teams"], products["yammer"]])
    assert submit(client_a, key).status_code == 302
    claim = Claim.objects.get()
    assert claim_validate(claim_id=claim.pk) == S.UNDER_REVIEW
    claim_request_information(claim=claim, user=reviewer, reason="poe_insufficient", message="Add the SOW.")
    claim.refresh_from_db()
    claim_respond(
        claim=claim,
        user=partner_a.admin,
        comment="The signed SOW, and the right contact.",
        files=[_poe("sow.pdf")],
        location=partner_a.locations[1],
        contacts={"customer_contact_name": "Ana Admin"},
        remove_items=[claim.items.get(product__code="yammer")],
    )
    claim_approve(claim=claim, user=reviewer)
    emails_send_due()  # the notice accepted (and the earlier request's email): the opt-out window starts (SPEC §6)
    claim.refresh_from_db()
    assert claim.opt_out_deadline is not None
    claims_finalize_due(now=claim.opt_out_deadline + datetime.timedelta(minutes=1))
    claim.refresh_from_db()
    claim_protect(claim=claim, user=partner_a.admin, comment="Signed renewal.", files=[_poe("renewal.pdf")])
    claim.refresh_from_db()
    assert claim.status == S.OFFICIAL
    return claim


def test_history_keyed_claim_life_carries_its_content_and_verifies_ok(life, partner_a, products):
    events = _events(life)
    assert [(e.action, e.field) for e in events] == [
        ("submitted", ""),
        ("validated", ""),
        ("information_requested", ""),
        ("changed", "location"),
        ("changed", "customer_contact_name"),
        ("changed", "product"),
        ("responded", ""),
        ("approved", ""),
        ("notice_delivered", ""),
        ("finalized", ""),
        ("poe_added", ""),
    ]
    assert {e.key_id for e in events} == {"test"}
    sow, renewal = PoeDocument.objects.filter(claim=life).order_by("id")[1:]
    snapshot = events[0].data["snapshot"]
    teams, yammer = sorted(snapshot["items"], key=lambda item: item["product_id"] != products["microsoft-teams"].pk)
    assert snapshot["claim"]["location_id"] == partner_a.locations[0].pk
    assert snapshot["claim"]["customer_contact_name"] == "Nancy Davolio"
    assert len(snapshot["documents"]) == 1 and [teams["id"]] == list(life.items.values_list("id", flat=True))
    assert [e.data for e in events[3:7]] == [
        {"set": {"location_id": partner_a.locations[1].pk}},
        {"set": {"customer_contact_name": "Ana Admin"}},
        {"items_removed": [yammer["id"]]},
        {"documents_added": [{"id": sow.pk, "file": sow.file.name, "sha256": sow.sha256}]},
    ]
    assert events[10].data == {
        "documents_added": [{"id": renewal.pk, "file": renewal.file.name, "sha256": renewal.sha256}]
    }
    assert [e.data for e in events[1:3] + events[7:10]] == [{}, {}, {}, {}, {}]

    # A fresh install has no checkpoint yet: reported, not a failure.
    assert _verify().splitlines() == [
        "OK: 11 events of 1 claims, every hash chain whole.",
        "OK: every claim as its history says (status; columns, items and POE of 1).",
        f"No checkpoint in {CHECKPOINT_DIR}/ yet: nothing to compare the chain heads with (beat writes one an "
        "hour; `manage.py claims_history_checkpoint` writes one now).",
    ]
    # Beat's hourly task writes one; verify then checks it.
    assert app.conf.beat_schedule["history-checkpoint"] == {
        "task": "claims.tasks.history_checkpoint_task",
        "schedule": 3600.0,
    }
    name = history_checkpoint_task()
    assert name.startswith(f"{CHECKPOINT_DIR}/") and name.endswith("Z.json")
    lines = _verify().splitlines()
    assert lines[2].startswith(f"OK: checkpoint {name} (taken ")
    assert lines[2].endswith(", 1 claims, 11 events): the database still yields the same chain heads.")


def test_history_keyed_chain_recomputed_with_the_old_unkeyed_function_fails(life, owner_db):
    """The attack of issue 14: rewrite an event, then recompute the whole chain inside the database with the old
    unkeyed hash (recreated here: migration 0012 dropped it). Without the key the chain no longer verifies."""
    responded = ClaimEvent.objects.get(claim=life, action="responded")
    with owner_db.cursor() as cursor:
        cursor.execute(KEYED.UNKEYED.split("CREATE OR REPLACE FUNCTION claims_claimevent_chain()")[0])
    owner_db.commit()
    try:
        _as_owner(owner_db, "UPDATE claims_claimevent SET message = 'We withdraw.' WHERE id = %s", [responded.pk])
        prev_hash = GENESIS
        for event in _events(life):
            (prev_hash,) = _as_owner(
                owner_db,
                """
                UPDATE claims_claimevent SET prev_hash = %(prev)s::text,
                    hash = claims_claimevent_hash(%(prev)s::text, claim_id, created_at, actor, user_id, action,
                                                  old_status, new_status, reason, message, field, old_value,
                                                  new_value)
                WHERE id = %(id)s RETURNING hash""",
                {"prev": prev_hash, "id": event.pk},
            )[0]
    finally:
        owner_db.rollback()
        with owner_db.cursor() as cursor:
            cursor.execute(KEYED.DROP_UNKEYED)
        owner_db.commit()
    first = _events(life)[0]
    assert ClaimEvent.objects.get(pk=responded.pk).message == "We withdraw."

    error, _out = _verify_fails()
    assert error.startswith(
        f"Claim {life.pk}, event {first.pk}: stored hash {first.hash} differs from the hash of its content"
    )


def test_history_keyed_status_changed_by_the_owner_fails_naming_claim_and_status(life, owner_db):
    _as_owner(owner_db, "UPDATE claims_claim SET status = 'customer_notified' WHERE id = %s", [life.pk])

    error, out = _verify_fails()
    assert error == (
        f"Claim {life.pk}: status differs from its history: the history says official, the row says customer_notified."
    )
    assert out == ""  # the chains are whole, but the claim is not what they say


def _teams(claim):
    return claim.items.get()


@pytest.mark.parametrize("change", ["contact", "item deleted", "poe added", "poe deleted", "poe swapped"])
def test_history_keyed_claim_content_changed_by_the_owner_fails_naming_the_difference(life, owner_db, change):
    teams = _teams(life)
    first_poe = PoeDocument.objects.filter(claim=life).order_by("id").first()
    item = {
        "id": teams.pk,
        "program": "osu_m365",
        "tenant_id": teams.tenant_id,
        "product_id": teams.product_id,
        "subscription_id": None,
    }
    document = {"id": first_poe.pk, "file": first_poe.file.name, "sha256": first_poe.sha256}
    if change == "contact":
        _as_owner(
            owner_db, "UPDATE claims_claim SET customer_contact_email = 'x@attacker.example' WHERE id = %s", [life.pk]
        )
        expected = (
            "customer_contact_email differs from its history: the history says nancy@northwindtraders.example, the "
            "row says x@attacker.example."
        )
    elif change == "item deleted":
        _as_owner(owner_db, "DELETE FROM claims_claimitem WHERE id = %s", [teams.pk])
        expected = f"item {teams.pk} differs from its history: the history says {_json(item)}, the row says (none)."
    elif change == "poe added":
        ((added,),) = _as_owner(
            owner_db,
            """
            INSERT INTO claims_poedocument (claim_id, file, original_name, content_type, size, sha256, uploaded_at,
                                            in_response, content_checked)
            VALUES (%s, 'poe/forged.pdf', 'forged.pdf', 'application/pdf', 10, %s, now(), false, true) RETURNING id""",
            [life.pk, "a" * 64],
        )
        row = {"id": added, "file": "poe/forged.pdf", "sha256": "a" * 64}
        expected = f"POE document {added} differs from its history: the history says (none), the row says {_json(row)}."
    elif change == "poe deleted":
        _as_owner(owner_db, "DELETE FROM claims_poedocument WHERE id = %s", [first_poe.pk])
        expected = (
            f"POE document {first_poe.pk} differs from its history: the history says {_json(document)}, the row "
            "says (none)."
        )
    else:
        _as_owner(owner_db, "UPDATE claims_poedocument SET file = 'poe/other.pdf' WHERE id = %s", [first_poe.pk])
        expected = (
            f"POE document {first_poe.pk} differs from its history: the history says {_json(document)}, the row "
            f"says {_json(document | {'file': 'poe/other.pdf'})}."
        )

    error, _out = _verify_fails()
    assert error == f"Claim {life.pk}: {expected}"


def test_history_keyed_claim_row_deleted_by_the_owner_fails_naming_the_claim(life, owner_db):
    """Its history stays (an owner removing that too is what the checkpoints are for): verify names the claim."""
    for table in ("claims_claimitem", "claims_poedocument", "claims_emailnotification"):
        _as_owner(owner_db, f"DELETE FROM {table} WHERE claim_id = %s", [life.pk])
    _as_owner(owner_db, "DELETE FROM claims_claim WHERE id = %s", [life.pk])

    error, _out = _verify_fails()
    assert error == (
        f"Claim {life.pk}: its row is gone, but 11 events, 0 items and 0 POE documents of it remain: the claim was "
        "deleted."
    )


def _json(value):
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def test_history_keyed_events_removed_from_a_chains_end_pass_the_chain_but_fail_the_checkpoint(life, owner_db):
    """The owner undoes the finalization and the protection: removes the last two events (and the POE row and
    status they brought). Every chain is still whole and the claim is what its shortened history says; only the
    checkpoint written before knows better."""
    checkpoint = history_checkpoint_write()
    assert _verify().splitlines()[2].startswith(f"OK: checkpoint {checkpoint}")
    finalized, protected = _events(life)[-2:]
    renewal = PoeDocument.objects.filter(claim=life).order_by("id").last()
    _as_owner(owner_db, "DELETE FROM claims_claimevent WHERE id IN (%s, %s)", [finalized.pk, protected.pk])
    _as_owner(owner_db, "DELETE FROM claims_poedocument WHERE id = %s", [renewal.pk])
    _as_owner(owner_db, "UPDATE claims_claim SET status = 'customer_notified' WHERE id = %s", [life.pk])

    error, out = _verify_fails()
    assert out.splitlines() == [
        "OK: 9 events of 1 claims, every hash chain whole.",
        "OK: every claim as its history says (status; columns, items and POE of 1).",
    ]
    assert error.startswith(f"Checkpoint {checkpoint} (taken ")
    assert "claims 0 to 9999 had 1 claims with 11 events (heads digest " in error
    assert "the database now yields 1 claims with 9 events (heads digest " in error
    assert error.endswith("): history written before the checkpoint was removed or rewritten.")


def test_history_keyed_tampered_checkpoint_file_fails_its_signature(life):
    name = history_checkpoint_write()
    with default_storage.open(name, "rb") as handle:
        document = json.loads(handle.read())
    assert document["key_id"] == "test" and document["events"] == 11
    document["events"] = 8  # as if history had always been shorter
    default_storage.delete(name)
    default_storage.save(name, ContentFile(json.dumps(document).encode()))

    error, out = _verify_fails()
    assert out.splitlines()[0] == "OK: 11 events of 1 claims, every hash chain whole."
    assert error == (f"Checkpoint {name}: its signature does not verify: the file was changed after it was written.")


def test_history_keyed_every_checkpoint_checked_on_request_and_a_stale_one_reported(life):
    now = datetime.datetime.now(datetime.UTC)
    first = history_checkpoint_write(now=now - datetime.timedelta(days=4, hours=1))
    claim_event_record(claim=life, actor="partner", action="note", message="A later note.")
    second = history_checkpoint_write(now=now - datetime.timedelta(days=3, hours=1))
    assert _verify().splitlines()[2].startswith(f"OK: checkpoint {second}")  # the newest only, by default

    lines = _verify("--all-checkpoints").splitlines()

    assert lines[0] == "OK: 12 events of 1 claims, every hash chain whole."
    assert [line.split(" (taken")[0] for line in lines[2:4]] == [f"OK: checkpoint {second}", f"OK: checkpoint {first}"]
    assert "1 claims, 12 events" in lines[2] and "1 claims, 11 events" in lines[3]
    assert lines[4] == "Warning: the newest checkpoint is 3 days old: is beat running?"


def test_history_keyed_checkpoint_counts_only_finished_transactions(life, owner_db):
    """Exact under concurrency: an event whose transaction is still open when the checkpoint is taken is not in
    it, and stays out when a later verify recomputes the same set (the checkpoint's bound)."""
    with owner_db.cursor() as cursor:
        cursor.execute("SELECT hash FROM claims_claimevent WHERE claim_id = %s ORDER BY id DESC LIMIT 1", [life.pk])
        (prev_hash,) = cursor.fetchone()
        values = {
            "claim_id": life.pk,
            "created_at": datetime.datetime.now(datetime.UTC),
            "actor": "system",
            "user_id": None,
            "action": "note",
            "old_status": "",
            "new_status": "",
            "reason": "",
            "message": "Written while the checkpoint was taken.",
            "field": "",
            "old_value": "",
            "new_value": "",
        }
        key_id, signed = event_sign(prev_hash, values)
        cursor.execute(
            "INSERT INTO claims_claimevent (claim_id, created_at, actor, user_id, action, old_status, new_status, "
            "reason, message, prev_hash, hash, key_id) VALUES (%(claim_id)s, %(created_at)s, %(actor)s, %(user_id)s, "
            "%(action)s, %(old_status)s, %(new_status)s, %(reason)s, %(message)s, %(prev)s, %(hash)s, %(key)s)",
            {**values, "prev": prev_hash, "hash": signed, "key": key_id},
        )
        name = history_checkpoint_write()  # while the owner's transaction is open
    owner_db.commit()

    with default_storage.open(name, "rb") as handle:
        assert json.loads(handle.read())["events"] == 11
    lines = _verify().splitlines()
    assert lines[0] == "OK: 12 events of 1 claims, every hash chain whole."
    assert lines[2].startswith(f"OK: checkpoint {name}") and "1 claims, 11 events" in lines[2]


@pytest.mark.django_db
def test_history_keyed_rotation_older_key_verifies_while_listed(settings, partner_a, m365_tenant, products):
    old, new = ("2025b", "o" * 40), ("2026a", "n" * 40)
    settings.HISTORY_KEYS = [old]
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])
    claim_event_record(claim=claim, actor="partner", action="submitted", new_status=S.SUBMITTED)
    claim_transition(claim=claim, to=S.UNDER_REVIEW, actor="system", action="validated")
    settings.HISTORY_KEYS = [new, old]  # rotation: the new key signs, the old one still verifies
    claim_transition(claim=claim, to=S.REJECTED, actor="reviewer", action="rejected")

    assert [e.key_id for e in _events(claim)] == ["2025b", "2025b", "2026a"]
    assert _verify().splitlines()[0] == "OK: 3 events of 1 claims, every hash chain whole."
    settings.HISTORY_KEYS = [new]  # removed while rows it signed remain
    first = _events(claim)[0]
    with pytest.raises(CommandError, match=rf"^Claim {claim.pk}, event {first.pk}: signed by key '2025b', which "):
        call_command("claims_history_verify", stdout=io.StringIO())
    settings.HISTORY_KEYS = [("2025b", "x" * 40)]  # the right id with another secret verifies nothing
    with pytest.raises(CommandError, match=rf"^Claim {claim.pk}, event {first.pk}: stored hash {first.hash} differs"):
        call_command("claims_history_verify", stdout=io.StringIO())


@pytest.fixture
def submitted(db, partner_a, m365_tenant, products):
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])
    claim_event_record(claim=claim, actor="partner", action="submitted", new_status=S.SUBMITTED)
    return claim


def _insert(claim, *, prev_hash, hash, key_id="test"):
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO claims_claimevent (claim_id, created_at, actor, action, old_status, new_status, reason, "
            "message, prev_hash, hash, key_id) VALUES (%s, now(), 'system', 'note', '', '', '', '', %s, %s, %s)",
            [claim.pk, prev_hash, hash, key_id],
        )


def test_history_keyed_insert_trigger_refuses_a_wrong_prev_hash_or_no_signature(submitted):
    last = submitted.events.get()

    refused = rf"an event of claim {submitted.pk} must follow its last event"
    with pytest.raises(IntegrityError, match=refused), transaction.atomic():
        ClaimEvent.objects.create(claim=submitted, actor="system", action="note", prev_hash="f" * 64, hash="e" * 64)
    for prev_hash in (GENESIS, "", "f" * 64):
        with pytest.raises(IntegrityError, match=rf"prev_hash {last.hash}, not {prev_hash}\)"), transaction.atomic():
            _insert(submitted, prev_hash=prev_hash, hash="e" * 64)
    for unsigned in ({"hash": ""}, {"hash": "E" * 64}, {"hash": "e" * 64, "key_id": ""}):
        with pytest.raises(IntegrityError, match="must be signed"), transaction.atomic():
            _insert(submitted, prev_hash=last.hash, **unsigned)
    assert submitted.events.count() == 1

    # What looks like a signature passes the trigger (PostgreSQL has no key to check it with); verify has one.
    _insert(submitted, prev_hash=last.hash, hash="e" * 64)
    forged = _events(submitted)[-1]
    with pytest.raises(CommandError, match=rf"^Claim {submitted.pk}, event {forged.pk}: stored hash e{{64}} differs"):
        call_command("claims_history_verify", stdout=io.StringIO())


@pytest.mark.django_db
def test_history_keyed_migration_rekeys_unkeyed_chains_with_a_snapshot_on_each_last_event(submitted, owner_db):
    """Migration 0012 on a database of migration 0010's unkeyed chains (its way back puts them there): every chain
    re-keyed with the configured key, and each claim's last event holding the claim as it is."""
    claim_transition(claim=submitted, to=S.UNDER_REVIEW, actor="system", action="validated")
    # The migration runs as the database's owner (it switches the append-only trigger off while it re-signs).
    editor = types.SimpleNamespace(connection=owner_db)
    keyed = [e.hash for e in _events(submitted)]
    KEYED.unkey(None, editor)
    owner_db.commit()
    assert not {e.hash for e in _events(submitted)} & set(keyed)
    with pytest.raises(CommandError, match="stored hash"):
        call_command("claims_history_verify", stdout=io.StringIO())

    KEYED.rekey(None, editor)
    owner_db.commit()

    first, last = _events(submitted)
    assert (first.data, first.key_id, last.key_id) == ({}, "test", "test")
    item = submitted.items.get()
    document = submitted.documents.get()
    assert last.data["snapshot"]["items"] == [
        {
            "id": item.pk,
            "program": "osu_m365",
            "tenant_id": item.tenant_id,
            "product_id": item.product_id,
            "subscription_id": None,
        }
    ]
    assert last.data["snapshot"]["documents"] == [{"id": document.pk, "file": document.file.name, "sha256": "0" * 64}]
    assert last.data["snapshot"]["claim"]["customer_contact_name"] == "Dana Customer"
    assert _verify().splitlines()[:2] == [
        "OK: 2 events of 1 claims, every hash chain whole.",
        "OK: every claim as its history says (status; columns, items and POE of 1).",
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_proc WHERE proname IN ('claims_claimevent_hash', 'claims_history_line')"
        )
        assert cursor.fetchone()[0] == 0  # the unkeyed twin is gone again: anyone could recompute it
