import logging

from django.apps import AppConfig
from django.conf import settings
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger("api")


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("Partner API")

    def ready(self):
        # Webhooks are written in the transaction of the history row that causes them (claims.services.transitions
        # calls its EVENT_HOOKS); the outbox's email for a disabled endpoint is built here (claims.emails).
        from api.services import webhooks

        webhooks.hooks_register()
        if settings.WEBHOOKS_ALLOW_LOOPBACK:
            # Said at every start-up, loudly: the switch exists for `make run` and the tests only.
            logger.warning(
                "WEBHOOKS_ALLOW_LOOPBACK is on: webhook endpoints may be plain http:// on this machine's loopback "
                "address (127.0.0.1, ::1). For `make run` and the tests only; never in production."
            )
