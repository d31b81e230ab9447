"""History is evidence (SPEC §14, migration 0008): PostgreSQL keeps ClaimEvent append-only and chained, refuses
status moves outside §5 and status changes without their event, and never deletes a submitted claim's rows.

The test database has the tests' escape hatch on (conftest.py: ``cpor.maintenance``), so every refusal below
also shows that the hatch lifts nothing but TRUNCATE. The tests connect as the application's role, which may not
even try to change history (no UPDATE, DELETE or TRUNCATE right: test_database_roles.py); what the triggers refuse
is shown on the owner's connection (``owner_db``), the one role that could.
"""

import datetime
import io
import itertools
import os
import subprocess
import sys
import threading
import time

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, ProgrammingError, connection, transaction

from claims.history import FIELDS, GENESIS, event_hash
from claims.models import TRANSITIONS, Claim, ClaimEvent, ClaimItem, ClaimStatus, PoeDocument
from claims.services import claim_transition, claims_transition
from claims.services.transitions import claim_event_record
from claims.tests.factories import claim_make
from conftest import ROOT, database_url
from cpor.test_settings import S3_PORT

pytestmark = pytest.mark.django_db
S = ClaimStatus


def _sql(statement, params=None):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _refused(statement, params=None, *, match):
    """Run ``statement`` in a savepoint and expect PostgreSQL to refuse it with ``match`` in the message."""
    with pytest.raises(IntegrityError, match=match), transaction.atomic():
        _sql(statement, params)


def _check_deferred():
    """Run the checks PostgreSQL defers to COMMIT now (SET CONSTRAINTS is retroactive), inside the test's
    transaction, which is never committed."""
    _sql("SET CONSTRAINTS ALL IMMEDIATE")


def _chain(claim):
    return list(ClaimEvent.objects.filter(claim=claim).order_by("id").values_list("id", "prev_hash", "hash", *FIELDS))


@pytest.fixture
def claim(partner_a, m365_tenant, products):
    """A submitted claim with its submission event."""
    claim = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]])
    claim_event_record(claim=claim, actor="partner", action="submitted", new_status=S.SUBMITTED)
    return claim


def _owner_refused(owner, statement, params=None, *, match):
    """The owner runs ``statement`` and PostgreSQL refuses it with ``match`` in the message; rolled back."""
    try:
        with pytest.raises(psycopg.IntegrityError, match=match):
            owner.execute(statement, params)
    finally:
        owner.rollback()


def test_history_event_update_delete_truncate_refused(claim, owner_db):
    event = claim.events.get()

    # The application's role has no right to try.
    with pytest.raises(ProgrammingError, match="permission denied for table claims_claimevent"), transaction.atomic():
        ClaimEvent.objects.filter(pk=event.pk).update(message="x")
    with pytest.raises(ProgrammingError, match="permission denied for table claims_claimevent"), transaction.atomic():
        event.delete()
    # The owner, who has, is refused by the triggers.
    _owner_refused(
        owner_db,
        "UPDATE claims_claimevent SET message = 'x' WHERE id = %s",
        [event.pk],
        match="UPDATE on claims_claimevent",
    )
    _owner_refused(
        owner_db, "DELETE FROM claims_claimevent WHERE id = %s", [event.pk], match="DELETE on claims_claimevent"
    )
    # With the outboxes that reference events (an email, a webhook delivery belongs to its event), as TRUNCATE
    # requires.
    owner_db.execute("SET LOCAL cpor.maintenance = 'off'")
    _owner_refused(
        owner_db,
        "TRUNCATE claims_claimevent, claims_emailnotification, api_webhookdelivery, api_webhookattempt",
        match="TRUNCATE of claims_claimevent",
    )

    assert list(ClaimEvent.objects.values_list("pk", "message")) == [(event.pk, "")]


def test_history_truncate_refused_for_claims_items_documents_also_by_cascade(claim, owner_db):
    for statement, table in [
        ("TRUNCATE claims_claim CASCADE", "claims_claim"),
        ("TRUNCATE claims_claimitem", "claims_claimitem"),
        ("TRUNCATE claims_poedocument", "claims_poedocument"),
        ("TRUNCATE associations_partner CASCADE", "claims_claim"),
    ]:
        owner_db.execute("SET LOCAL cpor.maintenance = 'off'")
        _owner_refused(owner_db, statement, match=f"TRUNCATE of {table} is refused")

    assert (Claim.objects.count(), ClaimItem.objects.count(), PoeDocument.objects.count()) == (1, 1, 1)


def test_history_truncate_hatch_needs_the_database_setting_not_a_session_set(claim, owner_db):
    # Without the database-level setting (rolled back with the owner's transaction), a session's own SET opens
    # nothing.
    owner_db.execute(f"ALTER DATABASE {connection.ops.quote_name(owner_db.info.dbname)} RESET cpor.maintenance")
    owner_db.execute("SET LOCAL cpor.maintenance = 'on'")
    _owner_refused(
        owner_db,
        "TRUNCATE claims_claimevent, claims_emailnotification, api_webhookdelivery, api_webhookattempt",
        match="TRUNCATE of claims_claimevent",
    )

    assert ClaimEvent.objects.count() == 1


def test_history_submitted_claim_items_documents_never_deleted(claim):
    item, document = claim.items.get(), claim.documents.get()

    # The ORM's cascade deletes the events first: the first refused row aborts the whole delete.
    with pytest.raises(IntegrityError, match="History is evidence"), transaction.atomic():
        claim.delete()
    _refused("DELETE FROM claims_claim WHERE id = %s", [claim.pk], match="a submitted claim is never deleted")
    _refused("DELETE FROM claims_claimitem WHERE id = %s", [item.pk], match=f"claims_claimitem row {item.pk}")
    _refused(
        "DELETE FROM claims_poedocument WHERE id = %s", [document.pk], match=f"claims_poedocument row {document.pk}"
    )
    with pytest.raises(IntegrityError, match="claims_claimitem"), transaction.atomic():
        ClaimItem.objects.filter(claim=claim).delete()

    assert (Claim.objects.count(), ClaimItem.objects.count(), PoeDocument.objects.count()) == (1, 1, 1)
    assert ClaimEvent.objects.count() == 1


def test_history_draft_claim_may_be_deleted_with_its_rows(partner_a, m365_tenant, products):
    # A later issue adds the status; the rule already lets a partner delete a draft (SPEC §5) with its parts.
    draft = claim_make(partner_a, tenant=m365_tenant, products=[products["yammer"]], status="draft")

    draft.delete()

    assert (Claim.objects.count(), ClaimItem.objects.count(), PoeDocument.objects.count()) == (0, 0, 0)


def test_history_status_update_without_its_event_refused_at_commit(claim):
    _sql("UPDATE claims_claim SET status = 'under_review' WHERE id = %s", [claim.pk])

    with pytest.raises(IntegrityError, match=r"submitted -> under_review has no ClaimEvent in its transaction"):
        _check_deferred()


def test_history_status_update_with_an_event_of_another_move_refused(claim):
    _sql("UPDATE claims_claim SET status = 'rejected' WHERE id = %s", [claim.pk])
    claim_event_record(
        claim=claim, actor="system", action="validated", old_status=S.SUBMITTED, new_status=S.UNDER_REVIEW
    )

    with pytest.raises(IntegrityError, match=r"submitted -> rejected has no ClaimEvent"):
        _check_deferred()


def test_history_move_outside_lifecycle_refused_even_with_its_event(claim):
    claim_event_record(claim=claim, actor="system", action="finalized", old_status=S.SUBMITTED, new_status=S.OFFICIAL)

    _refused(
        "UPDATE claims_claim SET status = 'official' WHERE id = %s",
        [claim.pk],
        match=rf"Claim {claim.pk}: submitted -> official is not a move of the claim lifecycle",
    )
    claim.refresh_from_db()
    assert claim.status == S.SUBMITTED


def test_history_database_moves_are_exactly_transitions(partner_a, m365_tenant, products):
    """Every (from, to) pair of statuses: PostgreSQL allows the move iff claims.models.TRANSITIONS has it, so a
    change to TRANSITIONS without a migration that follows it fails here."""
    now = datetime.datetime(2026, 11, 2, tzinfo=datetime.UTC)
    claims = {status: claim_make(partner_a, tenant=m365_tenant, status=status, documents=()) for status in S}
    # Every deadline (and the dispute's date) set, so that the table's CHECK constraints let each status in.
    Claim.objects.update(customer_notified_at=now, opt_out_deadline=now, response_deadline=now)
    Claim.objects.filter(disputed_at=None).update(disputed_at=now)

    class RolledBack(Exception):
        pass

    allowed = set()
    for old, new in itertools.permutations(S, 2):
        try:
            with transaction.atomic():
                _sql("UPDATE claims_claim SET status = %s WHERE id = %s", [new, claims[old].pk])
                raise RolledBack
        except RolledBack:
            allowed.add((old, new))
        except IntegrityError as refused:
            assert "is not a move of the claim lifecycle" in str(refused)

    assert allowed == {(old, new) for old, targets in TRANSITIONS.items() for new in targets}


def test_history_claims_transition_one_and_many_pass_the_commit_check(claim, partner_a, m365_tenant, products):
    batch = [claim_make(partner_a, tenant=m365_tenant, products=[p], documents=()) for p in list(products.values())[:3]]

    claim_transition(claim=claim, to=S.UNDER_REVIEW, actor="system", action="validated")
    claims_transition(
        claim_ids=[c.pk for c in batch], old_status=S.SUBMITTED, to=S.REJECTED, actor=None, action="rejected"
    )
    claims_transition(claim_ids=[claim.pk], old_status=S.UNDER_REVIEW, to=S.REJECTED, actor=None, action="rejected")
    _check_deferred()

    assert set(Claim.objects.values_list("status", flat=True)) == {S.REJECTED}
    assert ClaimEvent.objects.filter(new_status=S.REJECTED).count() == 4


def test_history_chain_links_each_event_to_the_previous_signed_with_the_key(claim, settings):
    """Migration 0012: the application signs each event (HMAC with the history key) before its INSERT, and
    PostgreSQL refuses a row that does not follow the claim's last event, whatever the client sends."""
    claim_transition(claim=claim, to=S.UNDER_REVIEW, actor="system", action="validated")
    note = ClaimEvent.objects.create(claim=claim, actor="system", action="note", message="é ✓ \x01")
    with pytest.raises(IntegrityError, match="must follow its last event"), transaction.atomic():
        ClaimEvent.objects.create(claim=claim, actor="system", action="note", prev_hash="f" * 64, hash="e" * 64)

    chain = _chain(claim)
    assert len(chain) == 3
    key = settings.HISTORY_KEYS[0][1].encode()
    expected_prev = GENESIS
    for _id, prev_hash, stored_hash, *values in chain:
        assert prev_hash == expected_prev
        assert stored_hash == event_hash(prev_hash, dict(zip(FIELDS, values, strict=True)), key=key)
        expected_prev = stored_hash
    assert (note.prev_hash, note.hash, note.key_id) == (*chain[2][1:3], "test")
    assert len({h for _id, _prev, h, *_values in chain}) == 3


def _break(owner, statement, params):
    """Change history behind the append-only trigger's back, as the owner (committed)."""
    owner.execute("ALTER TABLE claims_claimevent DISABLE TRIGGER claims_claimevent_append_only")
    owner.execute(statement, params)
    owner.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses tables with pending foreign-key checks
    owner.execute("ALTER TABLE claims_claimevent ENABLE TRIGGER claims_claimevent_append_only")
    owner.commit()


def test_history_verify_ok_then_names_first_changed_row(claim, capsys, owner_db):
    claim_transition(claim=claim, to=S.UNDER_REVIEW, actor="system", action="validated")
    claim_transition(claim=claim, to=S.REJECTED, actor="reviewer", action="rejected", message="No proof.")
    call_command("claims_history_verify")
    assert capsys.readouterr().out.splitlines()[0] == "OK: 3 events of 1 claims, every hash chain whole."

    second, third = ClaimEvent.objects.filter(claim=claim).order_by("id")[1:]
    _break(owner_db, "UPDATE claims_claimevent SET message = 'Approved.' WHERE id = %s", [third.pk])
    _break(owner_db, "UPDATE claims_claimevent SET reason = 'other' WHERE id = %s", [second.pk])

    with pytest.raises(CommandError) as error:
        call_command("claims_history_verify")
    assert str(error.value).startswith(
        f"Claim {claim.pk}, event {second.pk}: stored hash {second.hash} differs from the hash of its content"
    )


def test_history_verify_names_the_row_after_a_removed_event(claim, owner_db):
    claim_transition(claim=claim, to=S.UNDER_REVIEW, actor="system", action="validated")
    claim_transition(claim=claim, to=S.REJECTED, actor="reviewer", action="rejected")
    _first, second, third = ClaimEvent.objects.filter(claim=claim).order_by("id")
    _break(owner_db, "DELETE FROM claims_claimevent WHERE id = %s", [second.pk])

    with pytest.raises(CommandError, match=rf"Claim {claim.pk}, event {third.pk}: prev_hash {second.hash} is not"):
        call_command("claims_history_verify")


@pytest.mark.django_db(transaction=True)
def test_history_commit_refuses_bare_status_update_and_verify_exits_1(claim, owner_db):
    """Committed for real: the deferred check at COMMIT, and the command's exit status as an operator sees it."""
    with pytest.raises(IntegrityError, match="has no ClaimEvent in its transaction"):
        _sql("UPDATE claims_claim SET status = 'under_review' WHERE id = %s", [claim.pk])  # autocommit
    claim_transition(claim=claim, to=S.UNDER_REVIEW, actor="system", action="validated")
    assert Claim.objects.get(pk=claim.pk).status == S.UNDER_REVIEW

    # The test bed's S3 server too (where verify looks for checkpoints of the chains' heads).
    env = {
        **os.environ,
        "TEST_DATABASE_URL": database_url(connection.settings_dict["NAME"]),
        "TEST_S3_PORT": str(S3_PORT),
    }
    command = [sys.executable, "manage.py", "claims_history_verify"]
    verified = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert verified.stderr == ""
    assert (verified.returncode, verified.stdout.splitlines()[0]) == (
        0,
        "OK: 2 events of 1 claims, every hash chain whole.",
    )

    event = ClaimEvent.objects.get(claim=claim, new_status=S.UNDER_REVIEW)
    _break(owner_db, "UPDATE claims_claimevent SET actor = 'reviewer' WHERE id = %s", [event.pk])
    broken = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1
    assert f"Claim {claim.pk}, event {event.pk}: stored hash" in broken.stderr


def _wait_for_lock_waiter(seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError("no writer waited on the claim")


def _verify_ok():
    out = io.StringIO()
    call_command("claims_history_verify", stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_history_concurrent_writers_of_one_claim_never_fork_the_chain(claim):
    """A writer that drew its id first but waited for the claim gets a later id, after the event it waited for;
    then twenty writers at once from four connections."""
    holder_has_lock, errors = threading.Event(), []
    release = threading.Event()

    def holder():
        try:
            with transaction.atomic():
                Claim.objects.select_for_update().get(pk=claim.pk)
                holder_has_lock.set()
                release.wait(10)
                claim_event_record(claim=claim, actor="system", action="holder")
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    def waiter():
        try:
            holder_has_lock.wait(10)
            claim_event_record(claim=claim, actor="system", action="waiter")  # draws its id, then waits
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    holder_has_lock.wait(10)
    _wait_for_lock_waiter()
    release.set()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    actions = list(ClaimEvent.objects.filter(claim=claim).order_by("id").values_list("action", flat=True))
    assert actions == ["submitted", "holder", "waiter"]

    barrier = threading.Barrier(4)

    def writer(n):
        try:
            barrier.wait(10)
            for i in range(5):
                with transaction.atomic():
                    claim_event_record(claim=claim, actor="system", action=f"w{n}-{i}")
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    chain = _chain(claim)
    assert len(chain) == 23
    assert len({prev for _id, prev, *_rest in chain}) == 23  # no two events share a predecessor
    assert _verify_ok().splitlines()[0] == "OK: 23 events of 1 claims, every hash chain whole."
