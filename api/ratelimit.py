"""Requests per minute per API key (SPEC §16): a counter per key and minute in the shared cache, so that every web
process counts together. Beyond ``API_RATE_LIMIT_PER_MINUTE``: 429 with ``Retry-After`` (the seconds left in the
minute). With the cache down the request goes through (fails open, never 500), as the site's other limits do."""

import logging
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)
WINDOW_SECONDS = 60


def api_rate_check(key_id, *, now=None):
    """None when this request of key ``key_id`` is within its limit, else the seconds to wait."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    name = f"api-rate:{key_id}:{window}"
    try:
        cache.add(name, 0, WINDOW_SECONDS + 5)
        count = cache.incr(name)
    except Exception:
        logger.warning("API rate limit not counted: the cache did not answer")
        return None
    if count > settings.API_RATE_LIMIT_PER_MINUTE:
        return max(1, int((window + 1) * WINDOW_SECONDS - now) + 1)
    return None
