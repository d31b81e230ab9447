"""The one place that decides what a signed-in user may see: their own partner organisation's data."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from associations.models import Membership


def get_membership(user):
    """The user's membership, or None for anonymous users, reviewers and users of no partner."""
    if not user.is_authenticated:
        return None
    # user.membership, fetched with its partner in one query (every partner page shows the partner) and cached
    # on the user, also when there is none, so the next call in this request (the context processor) is free.
    reverse = Membership.user.field.remote_field
    if not reverse.is_cached(user):
        membership = Membership.objects.select_related("partner").filter(user=user).first()
        reverse.set_cached_value(user, membership)
        if membership is not None:
            Membership.user.field.set_cached_value(membership, user)
    return reverse.get_cached_value(user)


def partner_required(view):
    """Signed-in partner users only; sets ``request.membership`` and ``request.partner``.

    Users without a partner (reviewers) get 404 rather than a page of someone else's data.
    """

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        membership = get_membership(request.user)
        if membership is None:
            raise Http404("You are not a member of a partner organisation.")
        request.membership = membership
        request.partner = membership.partner
        return view(request, *args, **kwargs)

    return wrapper


def admin_role_required(view):
    """Partner users with the incentives_admin role; incentives_user gets 403."""

    @partner_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.membership.can_manage_claims:
            raise PermissionDenied("Only an incentives admin can do this.")
        return view(request, *args, **kwargs)

    return wrapper


def scoped(queryset, request):
    """Limit a queryset of partner-owned rows to the requesting user's partner."""
    return queryset.filter(partner=request.partner)
