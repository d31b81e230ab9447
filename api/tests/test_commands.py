"""The walk-through's commands: a key and a webhook endpoint made from the command line, for incentives admins only."""

import io

import pytest
from django.core.management import CommandError, call_command

from api.keys import api_key_authenticate
from api.models import WebhookEndpoint


def test_commands_api_key_create_prints_a_working_key_for_an_admin_only(partner_a):
    out = io.StringIO()
    call_command("api_key_create", partner_a.admin.email, "--access", "read_write", stdout=out)
    caller = api_key_authenticate(out.getvalue().strip())
    assert caller.partner == partner_a.partner and caller.writes
    with pytest.raises(CommandError):
        call_command("api_key_create", partner_a.viewer.email)


def test_commands_api_webhook_create_prints_the_secret_and_refuses_plain_http(partner_a, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(CommandError):
        call_command("api_webhook_create", partner_a.admin.email, "http://127.0.0.1:9999/")
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    out = io.StringIO()
    call_command("api_webhook_create", partner_a.admin.email, "http://127.0.0.1:9999/", stdout=out)
    assert out.getvalue().strip() == WebhookEndpoint.objects.get().secret


def test_commands_start_up_says_loudly_when_loopback_webhooks_are_allowed():
    """WEBHOOKS_ALLOW_LOOPBACK is for make run and the tests: a process started with it says so; without it, not."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    def start(value):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "cpor.settings", "WEBHOOKS_ALLOW_LOOPBACK": value}
        return subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    on, off = start("1"), start("0")
    assert on.returncode == off.returncode == 0, on.stderr + off.stderr
    assert "WEBHOOKS_ALLOW_LOOPBACK is on" in on.stderr
    assert "never in production" in on.stderr
    assert "WEBHOOKS_ALLOW_LOOPBACK" not in off.stderr
