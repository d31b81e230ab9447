"""Register a webhook endpoint for an incentives admin's partner and print its signing secret (once): the README's
walk-through. The partner's UI (API and integrations, Webhooks) does the same."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.models import WebhookEvent
from api.services.webhooks import webhook_endpoint_create
from associations.access import get_membership


class Command(BaseCommand):
    help = "Register a webhook endpoint (URL) for an incentives admin's partner (EMAIL); prints its signing secret."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("url")
        parser.add_argument("--events", nargs="+", choices=WebhookEvent.values, default=WebhookEvent.values)

    def handle(self, *args, email, url, events, **options):
        user = get_user_model().objects.filter(email__iexact=email, is_active=True).first()
        membership = get_membership(user) if user is not None else None
        if membership is None or not membership.can_manage_claims:
            raise CommandError(f"{email} is not an active incentives admin of a partner")
        try:
            endpoint = webhook_endpoint_create(partner=membership.partner, user=user, url=url, event_types=events)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(endpoint.secret)
