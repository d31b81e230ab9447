"""Two admin inputs made safe for every model admin (Django's own and ours): the search box and the list's
selection.

The search box, bounded:
Django splits the search into words and adds one OR of every search field per word. On the claim list each word
makes PostgreSQL's planning slower (measured: 10 words 0.06 s, 40 words 0.5 s, 500 words 73 s): a 100,000
character search of one-letter words held a web worker for minutes and ended in a 500. Reviewers search for a
name, a domain, an MPN ID or a Directory ID: a few words.
"""

from django.contrib import messages
from django.contrib.admin import ModelAdmin, helpers
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList, ChangeListSearchForm
from django.core.exceptions import ValidationError
from django.utils.text import smart_split
from django.utils.translation import gettext

SEARCH_MAX_WORDS = 10
SEARCH_MAX_CHARS = 200


class BoundedSearchForm(ChangeListSearchForm):
    """The change list's search form, refusing long searches with a message (the change list shows it, as it
    does Django's own search errors, and lists without the search)."""

    def clean(self):
        cleaned = super().clean()
        query = cleaned.get(SEARCH_VAR) or ""
        if len(query) > SEARCH_MAX_CHARS or len(list(smart_split(query))) > SEARCH_MAX_WORDS:
            self.add_error(
                SEARCH_VAR,
                ValidationError(
                    gettext("Search for at most %(words)s words and %(chars)s characters.")
                    % {"words": SEARCH_MAX_WORDS, "chars": SEARCH_MAX_CHARS},
                    code="too_long",
                ),
            )
        return cleaned


def _response_action_checked(response_action):
    """ModelAdmin.response_action, refusing a selection that is not ids of the model (a tampered form): Django
    filters ``pk__in`` with it as posted, and a value that is not an id was a 500."""

    def checked(self, request, queryset, *args, **kwargs):
        pk = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                # to_python refuses what is not an id at all, the validators an id out of the column's range.
                pk.run_validators(pk.to_python(value))
        except ValidationError:
            self.message_user(
                request, gettext("The selection was not valid. Select the items again."), messages.WARNING
            )
            return None  # Django's own answer for a failed action: the list again
        return response_action(self, request, queryset, *args, **kwargs)

    return checked


def admin_inputs_bound():
    """Install both for every ModelAdmin: ChangeList.search_form_class and ModelAdmin.response_action are the one
    place Django reads them from (a per-admin override would miss Django's own User and Group admins)."""
    ChangeList.search_form_class = BoundedSearchForm
    if not getattr(ModelAdmin.response_action, "selection_checked", False):
        ModelAdmin.response_action = _response_action_checked(ModelAdmin.response_action)
        ModelAdmin.response_action.selection_checked = True
