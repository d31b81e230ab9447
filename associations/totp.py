"""Reviewers' second factor (SPEC §14): one confirmed TOTP device per reviewer, its secret shown once as base32,
the form authenticator apps and ``oathtool --totp -b SECRET`` take."""

import base64

from django_otp.plugins.otp_totp.models import TOTPDevice

DEVICE_NAME = "Authenticator app"


def totp_secret_base32(device):
    return base64.b32encode(device.bin_key).decode()


def totp_device_ensure(*, user, secret_base32=None):
    """Give ``user`` a confirmed TOTP device and return it. With ``secret_base32`` (the demo's fixed secret) the
    device holds exactly that secret, and a second call changes nothing; without it, a new random secret replaces
    any device the user had (re-enrolment: the old app stops working)."""
    if secret_base32 is None:
        TOTPDevice.objects.filter(user=user).delete()
        return TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=True)
    key = base64.b32decode(secret_base32).hex()
    device, _ = TOTPDevice.objects.update_or_create(
        user=user, name=DEVICE_NAME, defaults={"key": key, "confirmed": True}
    )
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    return device
