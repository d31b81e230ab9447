"""Item keys (SPEC §2): the programs a claim's items count for, the key at most one active Association may hold,
and a filter on rows by those keys. Pure helpers, re-exported by ``claims.models``."""

from django.db.models import Q

from associations.models import PROGRAM_FOR_ACTIVITY, Program, SolutionArea


def programs_for(solution_area, activities):
    """The programs a claim's items count for (SPEC §2): Microsoft 365 is Usage alone, ``osu_m365``; Business
    Applications maps each chosen activity to its program."""
    if solution_area == SolutionArea.MICROSOFT_365:
        return [Program.OSU_M365]
    return [PROGRAM_FOR_ACTIVITY[(solution_area, activity)] for activity in activities]


def item_key(program, tenant_id, product_id, subscription_id):
    """An item key of SPEC §2, which at most one active Association may hold: (osu_m365, tenant, workload) for
    Microsoft 365, (program, subscription) for the others."""
    if program == Program.OSU_M365:
        return (Program.OSU_M365, tenant_id, product_id)
    return (program, subscription_id)


def item_keys_q(items, tenant_id_of):
    """A filter on rows with item key columns (program, tenant, product, subscription) that matches a superset of
    the keys of ``items``; callers check the exact keys with ``item_key``. ``tenant_id_of(item)`` is its tenant."""
    m365 = [i for i in items if i.program == Program.OSU_M365]
    subs = [i for i in items if i.program != Program.OSU_M365 and i.subscription_id]
    q = Q(pk__in=[])
    if m365:
        q |= Q(
            program=Program.OSU_M365,
            tenant_id__in={tenant_id_of(i) for i in m365},
            product_id__in={i.product_id for i in m365},
        )
    if subs:
        q |= Q(subscription_id__in={i.subscription_id for i in subs}, program__in={i.program for i in subs})
    return q
