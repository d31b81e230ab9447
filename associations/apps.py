from django.apps import AppConfig
from django.db.models.signals import pre_save
from django.utils.translation import gettext_lazy as _


class AssociationsConfig(AppConfig):
    name = "associations"
    verbose_name = _("Partners, customers and associations")

    def ready(self):
        from django.contrib.auth import get_user_model

        # The sign-in signals: the user's saved language comes back, the session's lifetime starts.
        from associations import language, middleware  # noqa: F401
        from associations.auth import password_validate_on_save

        pre_save.connect(password_validate_on_save, sender=get_user_model(), dispatch_uid="associations.password")
