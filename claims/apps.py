from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _reviewers_group_sync(sender, using="default", **kwargs):
    from claims.reviewers import reviewers_group_ensure

    reviewers_group_ensure(using=using)


class ClaimsConfig(AppConfig):
    name = "claims"
    verbose_name = _("Claims")

    def ready(self):
        # After claims' own migrations and permissions (auth's handler runs first, being connected first), so the
        # group gets every permission it names. dispatch_uid: one handler however often ready() runs.
        post_migrate.connect(_reviewers_group_sync, sender=self, dispatch_uid="claims_reviewers_group")
        from claims import account_emails, emails

        emails.ACCOUNT_EMAIL_BUILDERS["password_reset"] = account_emails.password_reset_notification_email
