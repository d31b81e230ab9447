"""Django's createsuperuser, which checks the password against AUTH_PASSWORD_VALIDATORS without input too.

Django checks it only when it asks for it: with ``--noinput`` the password of DJANGO_SUPERUSER_PASSWORD is taken as
it is. Here it meets the same rules as every password (at least 12 characters, not common, not like the account),
or the command stops naming what is wrong and creates nobody. ("cpor" is first in INSTALLED_APPS for this: the
first app with a command of a name provides it.)
"""

import os

from django.contrib.auth.management.commands import createsuperuser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import CommandError


class Command(createsuperuser.Command):
    def handle(self, *args, **options):
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if not options["interactive"] and password is not None:
            field = self.UserModel.USERNAME_FIELD
            username = options[field] or os.environ.get(f"DJANGO_SUPERUSER_{field.upper()}", "")
            email = options.get("email") or os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
            try:
                validate_password(password, self.UserModel(**{field: username, "email": email}))
            except ValidationError as error:
                raise CommandError("; ".join(error.messages)) from None
        return super().handle(*args, **options)
