from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend


class EmailBackend(ModelBackend):
    """Partner users and reviewers sign in with their email address (stored as the username, lower-cased)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None or password is None:
            return None
        User = get_user_model()
        email = username.strip().lower()
        try:
            user = User.objects.get(username=email)
        except User.DoesNotExist:
            User().set_password(password)  # same work as a real check, so timing does not reveal accounts
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def get_user(self, user_id):
        # Every partner page needs the user's membership and partner: load them with the user in one query (LEFT
        # JOINs; a reviewer's missing membership is cached as None), so access.get_membership costs nothing.
        user = get_user_model()._default_manager.select_related("membership__partner").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


def signin_username(request, credentials):
    """The account a sign-in attempt counts against (``AXES_USERNAME_CALLABLE``): the email as the backend reads
    it, so ``Alex@…`` and ``alex@…`` share one count. NULs are dropped (PostgreSQL stores no NUL in text) and the
    length capped to axes' column."""
    data = credentials or getattr(request, "POST", {})
    username = data.get("username") if data else None
    if not isinstance(username, str):
        return None
    return username.strip().lower().replace("\x00", "")[:255]
