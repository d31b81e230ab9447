"""The wizard's run as a draft claim (SPEC §12): saved after each POST from the first valid Continue, refused when
too large, resumed on any device (``ClaimWizard`` mixes this in)."""

import copy
import json
import uuid

from django.conf import settings
from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.functional import cached_property
from django.utils.translation import gettext

from claims.models import Claim
from claims.policy import ClaimRules
from claims.services.drafts import (
    DraftLimitReached,
    claim_draft_create,
    claim_draft_update,
    step_data_kept,
)


class WizardDraftMixin:
    """The draft's side of ``ClaimWizard``: ``_draft_save`` after each POST, ``_draft_resume`` for
    ``/customer-associations/<id>/edit/``, ``_draft_too_large`` before a step is stored."""

    def _draft_too_large(self, step):
        """The step again with a message, nothing of this post stored, when saving it would make the run's data
        (the session's and the draft's) larger than DRAFT_MAX_BYTES; None when it fits."""
        form = self.get_form(step=step, data=self.request.POST)
        data = copy.deepcopy(self.storage.data)
        data.setdefault(self.storage.step_data_key, {})[step] = dict(self.get_form_step_data(form).lists())
        size = len(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False).encode())
        if size <= settings.DRAFT_MAX_BYTES:
            return None
        self._draft_done = True  # the draft keeps what it had
        form.add_error(
            None,
            gettext(
                "What you entered is more than a draft can keep (%(max)s for the whole customer association). "
                "Shorten it and try again: nothing of this step was saved."
            )
            % {"max": filesizeformat(settings.DRAFT_MAX_BYTES)},
        )
        self.storage.current_step = step
        return self.render(form)

    @cached_property
    def _draft_columns(self):
        """The header columns of the step validated by this request's Continue (``process_step``)."""
        return {}

    def _draft_save(self, response):
        """Save the session's wizard data on this run's draft after a POST; the draft is created by the first
        valid Continue of step 1 (the customer is known then). A draft deleted, expired or submitted meanwhile
        (another device, the expiry job) ends this run: the partner goes to the list and is told."""
        if getattr(self, "_submitted", False) or getattr(self, "_draft_done", False):
            return response
        extra = self.storage.extra_data
        key = extra.get("submission_key")
        if key is None:
            return response
        draft_data = copy.deepcopy(self.storage.data)
        if extra.get("draft_id") is None:
            if "location" not in self._draft_columns:
                return response  # no valid Continue on step 1 yet: no draft
            try:
                draft_id = claim_draft_create(
                    partner=self.request.partner,
                    user=self.request.user,
                    submission_key=uuid.UUID(key),
                    draft_data=draft_data,
                    columns=self._draft_columns,
                )
            except DraftLimitReached:  # drafts started meanwhile (another tab, Copy into a new claim)
                self.storage.reset()
                return draft_limit_page(self.request)
            self.storage.extra_data = {**self.storage.extra_data, "draft_id": draft_id}
            if getattr(response, "context_data", None) is not None:  # a step's page, rendered after this
                response.context_data["draft_id"] = draft_id
            return response
        saved = claim_draft_update(
            partner=self.request.partner,
            submission_key=uuid.UUID(key),
            draft_data=draft_data,
            columns=self._draft_columns,
        )
        if saved:
            return response
        self.storage.reset()
        messages.warning(self.request, gettext("This draft no longer exists: it was submitted, deleted or it expired."))
        return redirect("claims:list")

    def _draft_resume(self, claim_id):
        """Open a draft in this session at its saved step, with its step data; its uploads are the PendingUploads
        of its submission key, which becomes this session's run."""
        claim = get_object_or_404(
            Claim.objects.filter(partner=self.request.partner).select_related("tenant"),
            pk=claim_id,
        )
        decision = ClaimRules(claim, self.request.user).continue_editing
        if not decision:
            messages.info(self.request, decision.why_not)
            return redirect("claims:detail", claim.pk)
        saved = claim.draft_data if isinstance(claim.draft_data, dict) else {}
        step_data = saved.get("step_data") if isinstance(saved.get("step_data"), dict) else {}
        self.storage.reset()
        self.storage.data = {
            "step": saved.get("step") if saved.get("step") in self.get_form_list() else self.steps.first,
            "step_data": {
                step: step_data_kept(step, data) for step, data in step_data.items() if step in self.get_form_list()
            },
            "step_files": {},
            "extra_data": {"submission_key": str(claim.submission_key), "draft_id": claim.pk},
        }
        return self.render(self.get_form(data=self.storage.current_step_data))


def draft_limit_page(request):
    """The page instead of a new claim while the user has DRAFTS_MAX_OPEN drafts open (409), with a link to them."""
    context = {"max": settings.DRAFTS_MAX_OPEN}
    return render(request, "claims/draft_limit.html", context, status=409)
