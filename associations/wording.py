"""Small pieces of wording shared by every app (SPEC §15): how the active language writes a list of items."""

from django.utils.translation import gettext


def words_list(items):
    """``items`` as the active language lists them: "Exchange Online, Yammer" in English, 「Exchange Online、Yammer」
    in zh-Hant (Taiwan separates the items of an enumeration with the enumeration comma, with no space)."""
    # Translators: between the items of a list (zh-Hant: the enumeration comma 、, with no space after it).
    return gettext(", ").join(str(item) for item in items)
