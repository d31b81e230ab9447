"""``{% review_queue_results cl %}``: Django admin's ``{% result_list cl %}`` with the queue's own rows
(``claims.admin.queue_rows``), in Django's template (``admin/change_list_results.html``)."""

from django import template
from django.contrib.admin.templatetags.base import InclusionAdminNode

from claims.admin.queue_rows import queue_result_list

register = template.Library()


@register.tag(name="review_queue_results")
def review_queue_results_tag(parser, token):
    return InclusionAdminNode(
        "review_queue_results",
        parser,
        token,
        func=queue_result_list,
        template_name="change_list_results.html",
        takes_context=False,
    )
