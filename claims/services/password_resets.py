"""Password reset by email through the outbox (SPEC §14): the request writes one row and never waits for SMTP;
the sweep sends it on the outbox's retry schedule, so an SMTP outage loses no reset."""

import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from claims.models import EmailNotification
from claims.services.notifications import emails_enqueue_on_commit


def password_reset_request(*, address):
    """Queue a password reset email for ``address`` (lower-cased); False when the address has had its
    PASSWORD_RESET_EMAIL_LIMIT emails of the last PASSWORD_RESET_EMAIL_MINUTES already.

    The same work whatever the address, so that neither the answer nor its time tells who has an account:

    1. Take the address's lock (transaction-level): requests for one address count one after the other, so that
       concurrent ones cannot all see room for one more.
    2. Count the address's rows of the period (index ``emailnotification_reset``); at the limit, nothing more.
    3. Find the account: an active user of that address with a usable password, or nobody.
    4. Write one outbox row, with the account or without (the sender sends nothing for a row without), and wake
       the sender after commit. No token is stored: the link is made when the message is built.
    """
    now = timezone.now()
    period = datetime.timedelta(minutes=settings.PASSWORD_RESET_EMAIL_MINUTES)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The two-key space of advisory locks, keyed on the outbox table: apart from every other lock here.
            cursor.execute(
                "SELECT pg_advisory_xact_lock('claims_emailnotification'::regclass::oid::int, hashtext(%s))",
                [address],
            )
        recent = EmailNotification.objects.filter(
            kind=EmailNotification.Kind.PASSWORD_RESET, address=address, created_at__gt=now - period
        ).count()
        if recent >= settings.PASSWORD_RESET_EMAIL_LIMIT:
            return False
        user = get_user_model().objects.filter(username=address, is_active=True).first()
        if user is not None and not user.has_usable_password():
            user = None
        row = EmailNotification.objects.create(
            kind=EmailNotification.Kind.PASSWORD_RESET, address=address, user=user, created_at=now, next_attempt_at=now
        )
        emails_enqueue_on_commit([row.pk])
    return True
