import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cpor.settings")

app = Celery("cpor")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="cpor.ping")
def ping(*, token):
    """Proves a worker is consuming the broker: records the token in the shared cache for a minute."""
    from django.core.cache import cache
    from django.utils import timezone

    cache.set(f"cpor:ping:{token}", timezone.now().isoformat(), 60)
    return token
