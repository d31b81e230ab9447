"""The API's email, sent through claims' outbox (``claims.emails.ACCOUNT_EMAIL_BUILDERS``): a webhook endpoint that
failed for three days was disabled."""

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from api.models import WebhookEndpoint
from associations.language import user_language


def webhook_disabled_email(notification):
    """To the endpoint's owner, in their language: which endpoint, since when it fails, where to enable it again.
    None when the endpoint or its owner is gone."""
    endpoint = WebhookEndpoint.objects.filter(pk=notification.reference or 0).first()
    user = notification.user
    if endpoint is None or user is None or not user.is_active:
        return None
    with translation.override(user_language(user) or settings.LANGUAGE_CODE):
        context = {
            "url": endpoint.url,
            "failing_since": endpoint.failing_since,
            "endpoint_url": settings.SITE_URL + reverse("api:webhook_detail", args=[endpoint.pk]),
            "site_url": settings.SITE_URL,
        }
        subject = " ".join(render_to_string("emails/webhook_disabled_subject.txt", context).split())
        text = render_to_string("emails/webhook_disabled.txt", context)
        html = render_to_string("emails/webhook_disabled.html", context)
    message = EmailMultiAlternatives(subject, text, to=[notification.address])
    message.attach_alternative(html, "text/html")
    return message
