"""Jinja2 where Django's template language is too slow for a loop (issue 19): the environment of the fragments in
``templates/jinja2/`` (``TEMPLATES["fragments"]`` in settings), and the form renderer.

A fragment prints what its view prepared: no translation tags (every text comes translated from the view, so
``makemessages`` and the catalogs see it), no context processors, no request. Its filters are the product's own
template filters that its rows need, the same functions as in Django's templates.
"""

from django.forms.renderers import BaseRenderer, DjangoTemplates, Jinja2
from django.template import TemplateDoesNotExist
from jinja2 import Environment

from claims.templatetags.claims_text import wrap_at_dots


def environment(**options):
    # Django's backend passes ``undefined``: with DEBUG (the tests) a name the view did not pass prints as itself.
    # Always escaped, whatever the settings say: a fragment prints partners' and customers' words.
    options.pop("autoescape", None)
    env = Environment(autoescape=True, **options)
    env.filters["wrap_at_dots"] = wrap_at_dots
    return env


class FormRenderer(BaseRenderer):
    """``FORM_RENDERER``: Django's own form, field and widget templates rendered by Jinja2 (Django ships each of them
    for both engines, markup for markup), any other by Django's template language (the admin's widgets, which
    exist only there). A step of the wizard renders a few dozen widgets, each a template with its attributes' loop:
    in the template language they cost more than the page's SQL (issue 19)."""

    def __init__(self):
        self.jinja2 = Jinja2()
        self.django = DjangoTemplates()

    def get_template(self, template_name):
        try:
            return self.jinja2.get_template(template_name)
        except TemplateDoesNotExist:
            return self.django.get_template(template_name)
