"""``python manage.py seed_demo``: the demo data of a new user's machine. Idempotent: run it as often as you like.

It lives in ``claims`` because demo claims build on everything ``associations.demo`` creates; ``associations``
never knows about claims.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from associations.demo import REVIEWER, demo_ensure
from claims.demo import demo_claims_ensure, demo_customer_email_write, demo_customer_official_email_write
from claims.reviewers import reviewers_group_ensure


class Command(BaseCommand):
    help = "Create or update the demo partners, logins, customers, associations and usage data."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            # Its logins share a published password and the reviewer's TOTP secret is in the README: on a real
            # deployment they would be open doors.
            raise CommandError(
                "seed_demo creates demo logins with a public password and TOTP secret, so it runs only with "
                "DEBUG=1 (a development machine). Nothing was changed."
            )
        # One transaction: a failure half-way leaves the database as it was.
        with transaction.atomic():
            demo = demo_ensure()
            reviewer = get_user_model().objects.get(username=REVIEWER[0])
            reviewer.groups.set([reviewers_group_ensure()])
        self._print(demo)
        self.stdout.write(f"Demo claims created: {demo_claims_ensure()} (existing ones are kept).")
        written = demo_customer_email_write(settings.MAIL_DIR)
        if written is not None:
            path, page = written
            self.stdout.write("The Taiwanese customer's notice, in Traditional Chinese (README, Try it):")
            self.stdout.write(f"  email: {path}")
            self.stdout.write(f"  page:  {page}")
        written = demo_customer_official_email_write(settings.MAIL_DIR)
        if written is not None:
            path, page = written
            self.stdout.write("The same customer's notice of an official association it can end (Decline later):")
            self.stdout.write(f"  email: {path}")
            self.stdout.write(f"  page:  {page}")

    def _print(self, demo):
        out = self.stdout
        counts = ", ".join(f"{number} {what}" for what, number in demo.counts.items())
        out.write(self.style.SUCCESS(f"Demo data ready: {counts}."))
        out.write("")
        out.write(f"Demo logins (password for all: {demo.password}):")
        for email, what in demo.logins:
            out.write(f"  {email:<34} {what}")
        out.write(f"Reviewer's TOTP secret (demo only): {demo.reviewer_totp_secret}")
        out.write(f"  a code for the admin's sign-in: oathtool --totp -b {demo.reviewer_totp_secret}")
        out.write("")
        out.write("Sample customers for the wizard:")
        for tenant in demo.samples:
            domains = ", ".join(d.name for d in sorted(tenant.domains.all(), key=lambda d: (not d.is_initial, d.name)))
            out.write(f"  {tenant.name:<18} {tenant.country}  Directory ID {tenant.directory_id}")
            out.write(f"  {'':<22}domains: {domains}")
