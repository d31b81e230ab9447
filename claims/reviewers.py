"""The **Reviewers** group (SPEC §8): staff who review claims in Django admin with only the permissions review needs.

They see claims and everything a decision rests on, decide (change a claim: the admin's decisions are the only
change it allows) and send an email again (change an outbox row); they never delete history or evidence, never
create, change or end an Association by hand, and manage no users. ``reviewers_group_ensure`` runs after every
``migrate`` (claims.apps), so production gets the group, and any drift is undone, with the schema.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

REVIEWERS = "Reviewers"
PERMISSIONS = {
    "claims": [
        "view_claim",
        "change_claim",
        "view_claimitem",
        "view_claimevent",
        "view_poedocument",
        "view_emailnotification",
        "change_emailnotification",
    ],
    "associations": [
        "view_partner",
        "view_partnerlocation",
        "view_membership",
        "view_tenant",
        "view_tenantdomain",
        "view_tenantlicense",
        "view_product",
        "view_subscription",
        "view_association",
        "view_usagerecord",
    ],
}


def reviewers_group_ensure(*, using="default"):
    """Create the group or bring its permissions back to exactly ``PERMISSIONS``; a second call changes nothing.
    Returns the group."""
    query = Q(pk__in=[])
    for app_label, codenames in PERMISSIONS.items():
        query |= Q(content_type__app_label=app_label, codename__in=codenames)
    group, _ = Group.objects.using(using).get_or_create(name=REVIEWERS)
    group.permissions.set(Permission.objects.using(using).filter(query))
    return group
