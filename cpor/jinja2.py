"""The Jinja2 environment of the fragments in ``templates/jinja2/`` (``TEMPLATES["fragments"]`` in settings).

A fragment prints what its view prepared: no translation tags (every text comes translated from the view, so
``makemessages`` and the catalogs see it), no context processors, no request. Its filters are the product's own
template filters that its rows need, the same functions as in Django's templates.
"""

from jinja2 import Environment

from claims.templatetags.claims_text import wrap_at_dots


def environment(**options):
    # Django's backend passes ``undefined``: with DEBUG (the tests) a name the view did not pass prints as itself.
    # Always escaped, whatever the settings say: a fragment prints partners' and customers' words.
    options.pop("autoescape", None)
    env = Environment(autoescape=True, **options)
    env.filters["wrap_at_dots"] = wrap_at_dots
    return env
