"""The words of a claim's rejection reasons (``Claim.rejection_reasons``), in English when stored and in the
reader's language when shown (SPEC §15).

The reasons stay stored as English sentences, as before: the JSON's shape, the history and the exports do not
change and no data migration is needed. Each sentence is built from one of the templates below; to show it, the
stored sentence is matched against the templates (a regular expression per template, its ``%(name)s``
placeholders capturing the values) and the template's translation is filled with the captured values. A stored
sentence matching no template (a reviewer's own words) is shown as written; a sentence that is a msgid by itself
(a RejectionReason label) is translated directly. Old rows translate too, as long as their sentence was made from
one of these templates.
"""

import re
from functools import cache

from django.utils import translation
from django.utils.translation import gettext, gettext_noop, pgettext, pgettext_lazy

TEMPLATES = {
    "mpn_not_yours": gettext_noop("The MPN ID %(mpn_id)s does not belong to your organization."),
    "mpn_inactive": gettext_noop("The MPN ID %(mpn_id)s is not active."),
    "tenant_unknown": gettext_noop("The Directory ID %(directory_id)s is not a known customer tenant."),
    "domain_not_tenant": gettext_noop("The domain name %(domain)s does not belong to the tenant of this Directory ID."),
    "no_products": gettext_noop("The claim names no products."),
    "wrong_solution_area": gettext_noop("%(product)s is not a %(solution_area)s product."),
    "not_licensed": gettext_noop("%(product)s is not licensed on this tenant."),
    "needs_subscription": gettext_noop("%(product)s needs a subscription ID."),
    "subscription_not_tenant": gettext_noop("The subscription ID %(subscription_id)s does not belong to this tenant."),
    "subscription_wrong_product": gettext_noop(
        "The subscription ID %(subscription_id)s is not a %(product)s subscription."
    ),
    "subscription_inactive": gettext_noop("%(product)s has no active subscription on this tenant."),
    "already_yours": gettext_noop("%(product)s is already associated with your organization."),
    "already_claimed": gettext_noop("%(product)s is already claimed in another open claim of your organization."),
    "name_missing": gettext_noop("%(who)s name is missing."),
    "title_missing": gettext_noop("%(who)s title is missing."),
    "email_missing": gettext_noop("%(who)s email address is missing."),
    "email_invalid": gettext_noop("%(who)s email address %(email)s is not valid."),
    "email_not_customer": gettext_noop(
        "%(who)s email address %(email)s must be at the customer's domain (%(domain)s or a subdomain of one of "
        "its domains)."
    ),
    "no_poe": gettext_noop("No proof of execution (POE) was uploaded."),
    "too_many_poe": gettext_noop("At most %(max)s POE files are allowed; this claim has %(count)s."),
    "poe_too_large": gettext_noop("The POE file %(name)s is larger than 10 MB."),
    "poe_wrong_type": gettext_noop("The POE file %(name)s is not an allowed type (%(allowed)s)."),
    # A reviewer rejected every product of a claim, each for its reason (SPEC §8): the one with a note first (the
    # other's pattern would take the note into the reason).
    "item_rejected_note": gettext_noop("%(product)s was rejected: %(reason)s. %(note)s"),
    "item_rejected": gettext_noop("%(product)s was rejected: %(reason)s."),
}

# Whose contact a contact reason is about: the stored English words, translated when shown. They begin a sentence
# ("Your company's contact name is missing."), so they are translated in a context of their own: the same English
# words as a label of the claim page ("Your company's contact") read differently in Chinese.
WHO_CONTEXT = "whose contact, at the start of a rejection reason"
WHO_CUSTOMER = "The customer contact's"
WHO_TECHNICAL = "The customer's technical contact's"
WHO_PARTNER = "Your company's contact"
# For makemessages only (pgettext has no _noop form): the words above, with their context.
_WHO_MARKED = (
    pgettext_lazy("whose contact, at the start of a rejection reason", "The customer contact's"),
    pgettext_lazy("whose contact, at the start of a rejection reason", "The customer's technical contact's"),
    pgettext_lazy("whose contact, at the start of a rejection reason", "Your company's contact"),
)
# Parameters that are words of ours (translated when shown), not data (names, ids, addresses: shown as stored).
TRANSLATED_PARAMS = {"who": lambda value: pgettext(WHO_CONTEXT, value), "solution_area": gettext, "reason": gettext}


def reason_text(key, **params):
    """The English sentence to store for reason ``key``."""
    return TEMPLATES[key] % params


def english(label):
    """A (lazy) label in English, to store: a reviewer working in zh-Hant still stores the English words."""
    with translation.override("en"):
        return str(label)


@cache
def _patterns():
    patterns = []
    for template in TEMPLATES.values():
        parts = re.split(r"%\((\w+)\)s", template)
        regex = "".join(re.escape(part) if n % 2 == 0 else f"(?P<{part}>.+?)" for n, part in enumerate(parts))
        patterns.append((re.compile(regex, re.DOTALL), template))
    return patterns


def reason_display(text):
    """A stored reason in the active language."""
    for pattern, template in _patterns():
        match = pattern.fullmatch(text)
        if match:
            params = {
                name: TRANSLATED_PARAMS[name](value) if name in TRANSLATED_PARAMS else value
                for name, value in match.groupdict().items()
            }
            return gettext(template) % params
    return gettext(text) if text else text
