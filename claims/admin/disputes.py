"""The reviewer's decision on a dispute in admin (SPEC §8, §12): the claim page shows the partner's business
justification and the POE that came with it (Partner Center reviews "the most recent POE"); the three decisions
of ``claims.admin`` act on a ``disputed`` claim as on one under review (``claims.services.review``), and the reject
page warns that rejecting it is final (``rejected_final``).
"""

from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join, linebreaks
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from associations.wording import words_list
from claims.models import ClaimEvent
from claims.policy import rejection_is_final


def rejection_final_note(claims):
    """The reject page's warning when a rejection would be final (the claim was disputed), else ''."""
    names = [claim.name for claim in claims if rejection_is_final(claim)]
    if not names:
        return ""
    return gettext(
        "Disputed once already: rejecting is final (Rejected (final)), and the partner cannot dispute it again: "
        "%(claims)s"
    ) % {"claims": words_list(names)}


DISPUTE_READONLY_FIELDS = ["dispute_justification", "dispute_poe"]


class DisputeAdminMixin:
    """For ClaimAdmin: a "Dispute" section on the page of a claim that was disputed, right below its status."""

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.disputed_at is not None:
            section = (_("Dispute"), {"fields": ["disputed_at", *DISPUTE_READONLY_FIELDS]})
            fieldsets.insert(1, section)
        return fieldsets

    @admin.display(description=_("business justification"))
    def dispute_justification(self, claim):
        event = (
            claim.events.filter(action=ClaimEvent.Action.DISPUTED)
            .order_by("-created_at", "-pk")
            .only("message")
            .first()
        )
        return linebreaks(event.message, autoescape=True) if event and event.message else "-"

    @admin.display(description=_("POE added with the dispute (the most recent POE)"))
    def dispute_poe(self, claim):
        documents = claim.documents.filter(uploaded_at__gte=claim.disputed_at).order_by("-uploaded_at", "-pk")
        if not documents:
            return gettext("None: the partner added no file to the dispute.")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">{}</a> · {}</li>',
                (
                    (
                        reverse("admin:claims_claim_poe", args=[claim.pk, document.pk]),
                        document.original_name,
                        timezone.localtime(document.uploaded_at).strftime("%Y-%m-%d %H:%M %Z"),
                    )
                    for document in documents
                ),
            ),
        )
