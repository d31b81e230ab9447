"""The claim wizard (SPEC §4): seven steps in one SessionWizardView, the one class view of the app.

Step data lives in the session (formtools' SessionStorage); POE files never do: they are PendingUploads in the
default storage, tied to this wizard run by its submission key, so Back and Continue never lose them.

From the first valid Continue the run is also a draft claim (SPEC §12, ``claims.services.drafts``): after each
POST the session's wizard data is saved on it, so the draft survives signing out and opens on any device
(``/customer-associations/<id>/edit/`` loads it into that session). Submitting turns the draft into the claim.
"""

import uuid

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from django.utils.decorators import method_decorator
from django.utils.functional import cached_property
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from formtools.wizard.storage import get_storage
from formtools.wizard.storage.session import SessionStorage
from formtools.wizard.views import SessionWizardView, StepsHelper, normalize_name

from associations.access import admin_role_required
from associations.models import Activity, SolutionArea
from associations.validators import normalize_domain, parse_guid
from associations.wording import words_list
from claims.forms.wizard import (
    ActivityForm,
    AssociateForm,
    ContactsForm,
    CustomerForm,
    PoeForm,
    ProductsForm,
    ReviewForm,
)
from claims.models import Claim, ClaimStatus
from claims.services import (
    PoeStorageError,
    claim_submit,
    pending_upload_create,
    pending_upload_delete,
    pending_uploads_discard,
)
from claims.services.drafts import (
    draft_columns,
    drafts_limit_reached,
)
from claims.uploads import POE_RULES
from claims.wizard.drafts import WizardDraftMixin, draft_limit_page
from claims.wizard.steps import step_form_kwargs

STEPS = [
    ("customer", CustomerForm),
    ("activity", ActivityForm),
    ("associate", AssociateForm),
    ("products", ProductsForm),
    ("contacts", ContactsForm),
    ("poe", PoeForm),
    ("review", ReviewForm),
]
STEP_TITLES = {
    "customer": _("Customer"),
    "activity": _("Solution area and activity"),
    "associate": _("Associate customer"),
    "products": _("Product(s)"),
    "contacts": _("Contacts"),
    "poe": _("Proof of execution (POE)"),
    "review": _("Comments and review"),
}
# The name of the file input of the POE step (without JavaScript the step posts its files itself).
POE_FILES_FIELD = "poe-files"
# The POE step's drop zone (templates/claims/_poe_dropzone.html): its input, and the ids its script and tests use.
POE_ZONE = {
    "name": POE_FILES_FIELD,
    "input_id": "id_poe_files",
    "zone_id": "drop-zone",
    "errors_id": "upload-errors",
    "list_id": "uploads",
}


class ClaimWizard(WizardDraftMixin, SessionWizardView):
    form_list = STEPS

    @method_decorator(admin_role_required)
    def dispatch(self, request, *args, **kwargs):
        return super().dispatch(request, *args, **kwargs)

    # --- the submission key: one per wizard run, unique in the database ---------------------------------------

    @property
    def submission_key(self):
        extra = self.storage.extra_data
        if "submission_key" not in extra:
            extra["submission_key"] = str(uuid.uuid4())
            self.storage.extra_data = extra
        return extra["submission_key"]

    def get(self, request, *args, claim_id=None, **kwargs):
        if claim_id is not None:
            return self._draft_resume(claim_id)
        if drafts_limit_reached(partner_id=request.partner.pk, user=request.user):
            return draft_limit_page(request)
        # Opening the wizard starts a new run, with a new submission key (no draft until its first Continue).
        self.storage.reset()
        self.storage.current_step = self.steps.first
        self.submission_key  # noqa: B018 (creates it)
        return self.render(self.get_form())

    def post(self, request, *args, claim_id=None, **kwargs):
        if claim_id is not None:
            # The page of a draft (/customer-associations/<id>/edit/): only one of the partner's own claims.
            get_object_or_404(Claim.objects.filter(partner=request.partner).only("pk"), pk=claim_id)
        response = self._post(request, *args, **kwargs)
        return self._draft_save(response)

    def _post(self, request, *args, **kwargs):
        # A replayed final POST (or a second click after the first finished) lands on the claim it created.
        posted_key = request.POST.get("submission_key", "")
        try:
            claim = (
                Claim.objects.filter(partner=request.partner, submission_key=uuid.UUID(posted_key))
                .only("pk", "status", "submission_key")
                .first()
            )
        except ValueError:
            claim = None
        if claim is not None and claim.status != ClaimStatus.DRAFT:
            self._draft_done = True
            if claim.status == ClaimStatus.EXPIRED:  # a page of a draft left open for 30 days
                messages.info(request, gettext("This customer association is no longer a draft."))
            else:
                messages.info(request, gettext("This claim was already submitted."))
            return redirect("claims:detail", claim.pk)
        if claim is not None and str(claim.submission_key) != self.storage.extra_data.get("submission_key"):
            # A page of one of the partner's drafts, but the session now runs another (opened in another tab
            # since): this page's data must not land in the other draft. Its own draft opens again, as saved.
            self._draft_done = True
            messages.warning(
                request, gettext("You opened another customer association meanwhile. Here is this one as saved.")
            )
            return redirect("claims:draft_edit", claim.pk)

        step = request.POST.get(f"{self.prefix}-current_step")
        if step not in self.get_form_list():
            # Not one of our steps (tampered, cut short): formtools would make it the current step and fail on it
            # (a 500). The current step again, nothing stored.
            return self.render(self.get_form())
        too_large = self._draft_too_large(step)
        if too_large is not None:
            return too_large
        if request.POST.get("wizard_goto_step") in self.get_form_list():
            # Back keeps what was typed on this step, valid or not: it is checked again on Continue and submit.
            self.storage.set_step_data(step, self.process_step(self.get_form(step=step, data=request.POST)))
            return self.render_goto_step(request.POST["wizard_goto_step"])
        if step == "poe":
            self.storage.current_step = step
            remove = request.POST.get("remove_upload")
            if remove:
                self._remove_upload(remove)
                return self.render(self.get_form())
            self._store_posted_files(request.FILES.getlist(POE_FILES_FIELD))
        return super().post(request, *args, **kwargs)

    def render_goto_step(self, goto_step, **kwargs):
        # Only back: later steps are reached with Continue, which validates the steps before them.
        form_list = list(self.get_form_list())
        if form_list.index(goto_step) > form_list.index(self.steps.current):
            goto_step = self.steps.current
        return super().render_goto_step(goto_step, **kwargs)

    # --- switching the customer (SPEC §13) ---------------------------------------------------------------------

    def process_step(self, form):
        if isinstance(form, CustomerForm) and form.is_valid():
            before = self.storage.get_step_data("customer")
            if before is not None and self._customer_changed(before, form.cleaned_data):
                self._forget_customer_data()
        step = form.prefix  # the step's name (get_form_prefix)
        if step in ("customer", "activity", "associate") and form.is_valid():
            self._draft_columns.update(draft_columns(step, form.cleaned_data))
        return super().process_step(form)

    def get_form_step_data(self, form):
        """The posted step as stored in the session and saved on the draft: the step form's own fields and the
        wizard's management field, nothing else. Any other posted field (the CSRF token, a secret with no business
        in the database; the buttons; whatever a crafted post adds) never reaches ``draft_data``."""
        kept = {form.add_prefix(name) for name in form.fields} | {self._current_step_key}
        return MultiValueDict({key: form.data.getlist(key) for key in form.data if key in kept})

    @property
    def _current_step_key(self):
        return f"{self.prefix}-current_step"

    def _customer_changed(self, before, cleaned):
        prefix = self.get_form_prefix("customer", None)
        try:
            directory_id = parse_guid(before.get(f"{prefix}-directory_id", ""))
            domain = normalize_domain(before.get(f"{prefix}-domain", ""))
        except ValidationError:
            return True
        return directory_id != cleaned["directory_id"] or domain != cleaned["domain"]

    def _forget_customer_data(self):
        """The contacts and POE belong to the previous customer: the opt-out notice would go to another company's
        contacts and its proof would back this claim. Cleared, and the partner told so."""
        had_contacts = self.storage.get_step_data("contacts") is not None
        discarded = pending_uploads_discard(partner=self.request.partner, wizard_key=self.submission_key)
        if had_contacts or discarded:
            self.storage.set_step_data("contacts", None)
            messages.warning(
                self.request,
                gettext("You changed the customer: the contacts and proof of execution you entered were cleared."),
            )

    # --- POE files posted with the step form (no JavaScript) ---------------------------------------------------

    def _store_posted_files(self, files):
        self._upload_errors = []
        for uploaded in files:
            try:
                pending_upload_create(
                    partner=self.request.partner,
                    user=self.request.user,
                    wizard_key=self.submission_key,
                    uploaded_file=uploaded,
                )
            except ValidationError as exc:
                self._upload_errors += exc.messages
            except PoeStorageError as exc:
                self._upload_errors.append(str(exc))

    def _remove_upload(self, upload_id):
        try:
            upload_id = uuid.UUID(upload_id)
        except ValueError:
            return
        pending_upload_delete(partner=self.request.partner, wizard_key=self.submission_key, upload_id=upload_id)

    # --- forms -------------------------------------------------------------------------------------------------

    def get_form_kwargs(self, step=None):
        # What each step's form is built with is said once (claims.wizard.steps), for the API and bulk import too.
        return step_form_kwargs(
            step,
            partner=self.request.partner,
            cleaned=self.get_cleaned_data_for_step,
            wizard_key=self.submission_key if step == "poe" else None,
        )

    def get_form(self, step=None, data=None, files=None):
        """The step's form; a bound form is built once per request for the same data (see ``_bound_forms``)."""
        step = step or self.steps.current
        key = self._data_key(step, data) if data is not None else None
        form = self._bound_forms.get(key) if key is not None else None
        if form is None:
            form = super().get_form(step, data, files)
            if key is not None:
                self._bound_forms[key] = form
        if isinstance(form, PoeForm):
            # The files this request posted are stored after the form may have been built (the draft's size check
            # builds it first): their refusals are the ones of now.
            form.upload_errors = getattr(self, "_upload_errors", [])
        return form

    @cached_property
    def _bound_forms(self):
        """Bound step forms of this request, by step and data, so that each step is validated once per request.

        formtools validates the earlier steps again whenever a form needs their cleaned data (the products step
        needs the customer's tenant, the contacts step the chosen products), and after a valid POST it forgets
        them all, so showing the next step validated the customer and products steps twice: their lookups ran
        twice. A form's validity depends on its own data and on the earlier steps' (its kwargs come from them):
        the key holds all of it, so data stored during the request (the posted step) never meets a stale form.
        The memo lives on the view instance, one per request: every request, the final submit included,
        validates each step again against the current database.
        """
        return {}

    def _data_key(self, step, data):
        names = list(self.get_form_list())
        earlier = [self.storage.get_step_data(name) for name in names[: names.index(step)]]
        return (
            step,
            *(None if d is None else tuple(sorted((k, tuple(v)) for k, v in d.lists())) for d in [*earlier, data]),
        )

    def get_cleaned_data_for_step(self, step):
        # formtools' own cache (_cleaned_data_cache_<step>) is emptied after each valid POST; the bound-form memo
        # above is not, and it is keyed by the data. A step with no stored data has no cleaned data: no form.
        if step not in self.get_form_list():
            return None
        data = self.storage.get_step_data(step)
        if data is None:
            return None
        form = self.get_form(step=step, data=data, files=self.storage.get_step_files(step))
        return form.cleaned_data if form.is_valid() else None

    def get_form_step_files(self, form):
        # POE files are PendingUploads in the default storage: nothing goes to formtools' file storage.
        return {}

    def get_template_names(self):
        return [f"claims/wizard/{self.steps.current}.html"]

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form=form, **kwargs)
        context["steps"] = [
            {"name": name, "title": STEP_TITLES[name], "number": number}
            for number, name in enumerate(self.get_form_list(), start=1)
        ]
        context["step_title"] = STEP_TITLES[self.steps.current]
        context["submission_key"] = self.submission_key
        if self.steps.current == "poe":
            context.update(
                poe_rules=POE_RULES,
                poe_zone={**POE_ZONE, "upload_url": reverse("claims:poe_upload")},
                template_url=reverse("claims:poe_template"),
            )
        if self.steps.current == "review":
            context["summary"] = self.summary()
        return context

    def summary(self):
        """What the partner entered so far, for the review step and the POE template."""
        data = {}
        for step in self.get_form_list():
            if step != "review":
                data.update(self.get_cleaned_data_for_step(step) or {})
        data["is_microsoft_365"] = data.get("solution_area") == SolutionArea.MICROSOFT_365
        data["solution_area_label"] = SolutionArea(data["solution_area"]).label if data.get("solution_area") else ""
        labels = dict(Activity.choices)
        data["activities_label"] = words_list(labels[a] for a in data.get("activities", []))
        return data

    # --- submit ------------------------------------------------------------------------------------------------

    def render_done(self, form, **kwargs):
        """Revalidate every step (formtools' rule), submit, and reset the wizard only once a claim exists."""
        final_forms = {}
        for step in self.get_form_list():
            step_form = self.get_form(
                step=step, data=self.storage.get_step_data(step), files=self.storage.get_step_files(step)
            )
            if not step_form.is_valid():
                return self.render_revalidation_failure(step, step_form, **kwargs)
            final_forms[step] = step_form
        response = self.done(list(final_forms.values()), form_dict=final_forms, **kwargs)
        if getattr(self, "_submitted", False):
            self.storage.reset()
        return response

    def done(self, form_list, form_dict, **kwargs):
        data = {}
        for form in form_list:
            data.update(form.cleaned_data)
        try:
            claim = claim_submit(
                user=self.request.user,
                partner=self.request.partner,
                data=data,
                submission_key=uuid.UUID(self.submission_key),
            )
        except PoeStorageError as exc:
            review = form_dict["review"]
            review.add_error(
                None,
                gettext("%(problem)s Nothing was submitted: select Submit claim to try again.") % {"problem": exc},
            )
            return self.render(review)
        self._submitted = True
        messages.success(self.request, gettext("Your customer association was submitted. We'll validate it shortly."))
        return redirect("claims:detail", claim.pk)


def claim_wizard_for(request):
    """A ClaimWizard bound to this request's wizard run, to read what was entered (upload and template views).

    The caller has checked the user's role (these views carry ``admin_role_required``).
    """
    view = ClaimWizard(**ClaimWizard.get_initkwargs())
    view.setup(request)
    view.prefix = view.get_prefix(request)
    view.storage = get_storage(view.storage_name, view.prefix, request, None)
    view.steps = StepsHelper(view)
    return view


def wizard_submission_key(request):
    """The submission key of the user's current wizard run, or None when no wizard is open in this session."""
    storage = SessionStorage(normalize_name(ClaimWizard.__name__), request)
    return storage.extra_data.get("submission_key")
