"""``python manage.py totp_device_create EMAIL``: enrol a reviewer's authenticator app (replacing any earlier one)
and print its secret once. The admin lets staff in only with a code from it (SPEC §14)."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from associations.totp import totp_device_ensure, totp_secret_base32


class Command(BaseCommand):
    help = "Give a staff user a new TOTP device for the admin's sign-in and print its secret (shown only now)."

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email, **options):
        user = get_user_model().objects.filter(username=email.strip().lower()).first()
        if user is None:
            raise CommandError(f"No user signs in as {email}.")
        if not user.is_staff:
            raise CommandError(f"{email} is not staff: only staff sign in to the admin.")
        device = totp_device_ensure(user=user)
        self.stdout.write(f"TOTP secret (base32) for {user.username}: {totp_secret_base32(device)}")
        self.stdout.write(f"Add it to an authenticator app, or scan this URL as a QR code: {device.config_url}")
