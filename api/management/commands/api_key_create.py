"""Make an API key for an incentives admin's partner and print it (once): the README's walk-through, and scripts
that set up an integration. The partner's UI (API and integrations) does the same."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api.keys import api_key_create
from api.models import ApiKey
from associations.access import get_membership


class Command(BaseCommand):
    help = "Make an API key acting as an incentives admin (EMAIL) and print it; it is shown only this once."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--name", default="Command line")
        parser.add_argument("--access", choices=ApiKey.Access.values, default=ApiKey.Access.READ)

    def handle(self, *args, email, name, access, **options):
        user = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
        membership = get_membership(user) if user is not None else None
        if membership is None or not membership.can_manage_claims:
            raise CommandError(f"{email} is not an active incentives admin of a partner")
        _key, raw = api_key_create(partner=membership.partner, user=user, name=name, access=access)
        self.stdout.write(raw)
