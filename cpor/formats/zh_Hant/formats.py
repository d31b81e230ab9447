"""zh-Hant formats: Django's, with numbers grouped by thousands and a comma (1,234), as Taiwan writes them.

Django's own zh_Hant formats leave numbers ungrouped (THOUSAND_SEPARATOR is empty), so |intcomma printed 1234.
"""

from django.conf.locale.zh_Hant.formats import *  # noqa: F403

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
