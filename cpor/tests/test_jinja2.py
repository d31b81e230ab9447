"""Jinja2 where the template language is too slow for a loop (cpor/jinja2.py): the form renderer and the fragments."""

from django import forms
from django.contrib.admin.widgets import AdminDateWidget
from django.forms.renderers import get_default_renderer
from django.template import engines
from jinja2 import Template as JinjaTemplate

from claims.templatetags.claims_text import field_group
from cpor.jinja2 import FormRenderer


class _Form(forms.Form):
    name = forms.CharField(label="Name", help_text="The customer's name.", max_length=20)
    when = forms.DateField(widget=AdminDateWidget)


def test_form_renderer_is_the_settings_one_and_renders_django_widgets_with_jinja2():
    renderer = get_default_renderer()
    assert isinstance(renderer, FormRenderer)
    template = renderer.get_template("django/forms/widgets/text.html")
    assert isinstance(template.template, JinjaTemplate)
    html = str(_Form(data={"name": "O'Brien & co"})["name"])
    assert html == (
        '<input type="text" name="name" value="O&#39;Brien &amp; co" maxlength="20" required '
        'aria-describedby="id_name_helptext" id="id_name">'
    )


def test_form_renderer_falls_back_to_django_templates_for_the_admins_widgets():
    renderer = get_default_renderer()
    template = renderer.get_template("admin/widgets/date.html")
    assert not isinstance(getattr(template, "template", None), JinjaTemplate)
    html = str(_Form()["when"])
    assert 'class="vDateField"' in html and 'name="when"' in html


def test_field_group_escapes_words_as_django_does_and_the_widget_once():
    form = _Form(data={"name": "<b>x</b>" * 5})
    html = field_group(form["name"], label="Customer's <name>")
    assert '<label for="id_name">Customer&#x27;s &lt;name&gt;</label>' in html
    assert '<p class="help" id="id_name_helptext">The customer&#x27;s name.</p>' in html
    assert 'value="&lt;b&gt;x&lt;/b&gt;' in html and "<b>" not in html
    assert '<div class="field has-error">' in html and '<div class="field-error" id="id_name_error"><p>' in html


def test_fragments_escape_every_value():
    template = engines["fragments"].from_string("<p>{{ name }}</p>")
    assert template.render({"name": "<script>"}) == "<p>&lt;script&gt;</p>"
