from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssociationsConfig(AppConfig):
    name = "associations"
    verbose_name = _("Partners, customers and associations")

    def ready(self):
        # Connects the sign-in signal that brings back the user's saved language.
        from associations import language  # noqa: F401
