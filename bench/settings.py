"""The production settings (``cpor.settings``, read from the environment as ever) plus one page only the benchmark
serves: the signed-in floor, ``/bench/floor`` (``bench/floor_urls.py``).

bench/pages.py passes ``DJANGO_SETTINGS_MODULE=bench.settings`` to the gunicorn it starts (and uses it in its own
process to count queries), so the product's URLconf has no bench URL.
"""

import copy

from cpor.settings import *  # noqa: F403
from cpor.settings import BASE_DIR, TEMPLATES

ROOT_URLCONF = "bench.floor_urls"

# The floor's template (bench/templates/bench/floor.html) after the product's: the same engine, loaders and
# context processors.
TEMPLATES = copy.deepcopy(TEMPLATES)
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]
