// Django admin's JavaScript words that reviewers read, worded again in Taiwan's zh-Hant (SPEC §8, §15): the change
// list's counter of selected rows and the filter of its multiple-choice widgets. Never loaded: it only names the
// msgids, so that makemessages keeps them in our djangojs catalog, which comes before Django's own (LOCALE_PATHS).
/* global gettext, ngettext */
function djangoAdminMessages() {
  return [
    gettext("Filter"),
    ngettext("%(sel)s of %(cnt)s selected", "%(sel)s of %(cnt)s selected", 2),
    gettext("Chosen %s"),
    gettext("Type into this box to filter down the list of available %s."),
    gettext("Type into this box to filter down the list of selected %s."),
  ];
}
