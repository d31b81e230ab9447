from django.apps import AppConfig


class AssociationsConfig(AppConfig):
    name = "associations"
    verbose_name = "Partners, customers and associations"
