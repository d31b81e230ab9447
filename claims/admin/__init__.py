"""The reviewers' tool in Django admin (SPEC §8): ``claims`` (the claim list, its page and the decisions: ``decisions``,
``compare``, the side-by-side view of competing claims),
``disputes`` (a disputed claim's section and decisions), ``outbox`` (the emails' delivery). Importing the package
registers every ModelAdmin (Django's autodiscovery imports ``claims.admin``)."""

from claims.admin import claims, outbox  # noqa: F401
