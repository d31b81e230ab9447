"""Django admin's own words that reviewers read, worded again in Taiwan's zh-Hant (SPEC §8, §15).

Django's zh_Hant admin catalog has mainland terms and half-width punctuation in places (過濾器 for Filter, 當前主題,
「%(cnt)s 中 0 個被選取」, 查看). Listed here, these msgids come into the project's catalog (makemessages finds them)
and LOCALE_PATHS comes before Django's own locale: our translations are the ones shown. The admin's JavaScript
counter ("%(sel)s of %(cnt)s selected") is worded again in our djangojs catalog (static/js/django-admin-messages.js
names its msgids). Nothing imports this module; it only names the messages.
"""

from django.utils.translation import gettext_noop, ngettext_lazy

DJANGO_ADMIN_MESSAGES = (
    # The change list's filter panel, its counter of selected rows and its actions.
    gettext_noop("Filter"),
    gettext_noop("Show counts"),
    gettext_noop("Hide counts"),
    gettext_noop(" By %(filter_title)s "),
    gettext_noop("0 of %(cnt)s selected"),
    ngettext_lazy("%(total_count)s selected", "All %(total_count)s selected", "total_count"),
    ngettext_lazy("%(counter)s result", "%(counter)s results", "counter"),
    gettext_noop("%(full_result_count)s total"),
    gettext_noop("Items must be selected in order to perform actions on them. No items have been changed."),
    gettext_noop("No action selected."),
    gettext_noop("Action:"),
    gettext_noop("Search %(name)s"),
    gettext_noop("Search"),
    gettext_noop("Select this object for an action - {}"),
    gettext_noop("Select all objects on this page for an action"),
    # A select's empty choice (Django 6: the list actions'), missing from Django's zh_Hant catalog.
    gettext_noop("- Select an option -"),
    # Page titles and links.
    gettext_noop("Select %s to change"),
    gettext_noop("Select %s to view"),
    gettext_noop("Change %s"),
    gettext_noop("View %s"),
    gettext_noop("Add %s"),
    gettext_noop("View"),
    gettext_noop("Change selected %(model)s"),
    gettext_noop("View selected %(model)s"),
    gettext_noop("Delete selected %(model)s"),
    gettext_noop("Models in the %(name)s application"),
    gettext_noop("You don’t have permission to view or edit anything."),  # noqa: RUF001 (Django's msgid)
    # The sidebar and the theme switch.
    gettext_noop("Toggle navigation"),
    gettext_noop("Filter navigation items"),
    gettext_noop("Add link"),
    gettext_noop("Change or view list link"),
    gettext_noop("Start typing to filter…"),
    gettext_noop("Toggle theme (current theme: auto)"),
    gettext_noop("Toggle theme (current theme: light)"),
    gettext_noop("Toggle theme (current theme: dark)"),
)
