import re
import uuid

from django.core.exceptions import ValidationError
from django.utils.encoding import punycode
from django.utils.translation import gettext

# A DNS name of at least two labels, each 1-63 letters, digits or hyphens, not starting or ending with a hyphen.
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")
MPN_ID_RE = re.compile(r"^[0-9]{6,10}$")


def normalize_domain(value):
    """A domain name as stored: lower case, no trailing dot, internationalized names in their IDNA (xn--) form."""
    name = (value or "").strip().lower().rstrip(".")
    if name.isascii():
        return name
    try:
        return punycode(name)
    except UnicodeError:
        return name  # not a valid name: validate_domain_name says so


def email_domain_within(email, domains):
    """Whether ``email``'s domain is one of ``domains`` or a subdomain of one (``x.contoso.com`` is within
    ``contoso.com``; ``evilcontoso.com`` and ``contoso.com.evil.example`` are not). Case and IDNA insensitive."""
    local, at, domain = (email or "").rpartition("@")
    if not (local and at):
        return False
    domain = normalize_domain(domain)
    if not domain:
        return False
    for name in domains:
        name = normalize_domain(name)
        if name and (domain == name or domain.endswith("." + name)):
            return True
    return False


def validate_domain_name(value):
    if not DOMAIN_RE.match(normalize_domain(value)):
        raise ValidationError(
            gettext("Enter a domain name such as contoso.onmicrosoft.com or contoso.com."), code="invalid_domain"
        )


def validate_mpn_id(value):
    if not MPN_ID_RE.match(str(value or "")):
        raise ValidationError(gettext("An MPN ID is 6 to 10 digits."), code="invalid_mpn_id")


def parse_guid(value):
    """Return the UUID for a GUID in its usual 8-4-4-4-12 form (braces allowed), or raise ValidationError."""
    text = str(value or "").strip().strip("{}")
    if not re.match(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", text):
        raise ValidationError(
            gettext("Enter the Directory ID as a GUID, like 9a3c6b1e-2f4d-4c8a-9e7b-5d1f0a2b3c4d."), code="invalid_guid"
        )
    return uuid.UUID(text)


def validate_guid(value):
    parse_guid(value)


# Control characters other than tab, line feed and carriage return: C0, DEL and C1 (SPEC §14 "Every input"). Nobody
# types them; they come from tools, attacks and some pasted text. PostgreSQL refuses NUL in text outright; the others
# would be stored invisibly and come back in exports and emails. cpor.middleware refuses them in every request;
# forms whose text fields carry this validator answer with a message at the field instead.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def validate_no_control_characters(value):
    """Refuse control characters other than NUL in typed text (Django's CharField already refuses NUL, with its
    own message "Null characters are not allowed.")."""
    found = CONTROL_CHARACTERS.search(str(value).replace("\x00", ""))
    if found:
        raise ValidationError(
            gettext(
                "Remove the invisible control character (%(code)s) from this text: it cannot be saved. Typing the "
                "text again, or pasting it as plain text, removes it."
            ),
            code="control_character",
            params={"code": f"U+{ord(found.group()):04X}"},
        )


# What a one-line field refuses (SPEC §14, and §7: partner text shown to a customer is data, never a paragraph of
# its own): line breaks of every kind (CR, LF, VT, FF, NEL, U+2028, U+2029), the other control characters (tab
# included) and the bidirectional embedding, override and isolate controls, with which text can be made to read
# in a different order than it is stored ("Trojan Source"). Names and titles never need them.
SINGLE_LINE_REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def validate_single_line(value):
    """Refuse line breaks and control characters in a one-line field (a name, a title): on the model fields that
    hold them, so that every form, the admin and the coming API refuse them with the same messages (an invisible
    control character is named by its code, as everywhere; a line break or a tab asks for one line)."""
    validate_no_control_characters(value)
    if SINGLE_LINE_REFUSED.search(str(value).replace("\x00", "")):
        raise ValidationError(
            gettext(
                "Enter this on one line: line breaks, tabs and invisible text-direction characters cannot be saved "
                "here."
            ),
            code="single_line",
        )


# The validators of a one-line model field (names and titles: they reach the customer's notice as quoted data).
ONE_LINE = [validate_single_line]
