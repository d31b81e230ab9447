from associations.access import get_membership


def membership(request):
    user = getattr(request, "user", None)
    return {"membership": get_membership(user) if user is not None else None}
