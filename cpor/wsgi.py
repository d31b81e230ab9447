import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpor.settings")

application = get_wsgi_application()

# gunicorn's workers and runserver (which loads this module) refuse a superuser or owner role (SPEC §14).
from cpor.database_role import database_role_check  # noqa: E402

database_role_check("web server")
