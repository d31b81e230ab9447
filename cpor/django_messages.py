"""Django's own messages that partners and customers read, worded again in zh-Hant (SPEC §15).

Django's zh_Hant catalog puts half-width parentheses, commas and stray spaces in Chinese text (its max_length message
has "個字 (目前為", its invalid choice a space after a full-width colon). Listed here, these msgids come into
the project's catalog (makemessages finds them), and LOCALE_PATHS comes before Django's own locale: our translations
are the ones shown. Each is a message of a form field the partner's or the customer's pages use. Nothing imports this
module; it only names the messages.
"""

from django.utils.translation import gettext_noop, ngettext_lazy

DJANGO_MESSAGES = (
    # Every required field without a message of its own (the sign-in's, the password reset's).
    gettext_noop("This field is required."),
    # CharField(max_length=...), and min_length.
    ngettext_lazy(
        "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
    ngettext_lazy(
        "Ensure this value has at least %(limit_value)d character (it has %(show_value)d).",
        "Ensure this value has at least %(limit_value)d characters (it has %(show_value)d).",
        "limit_value",
    ),
    # ChoiceField, MultipleChoiceField and ModelChoiceField without a message of their own.
    gettext_noop("Select a valid choice. %(value)s is not one of the available choices."),
    gettext_noop("Select a valid choice. That choice is not one of the available choices."),
)
