"""Time zones as people name them (SPEC §6, §15): a country's main zone, and a zone said by its city.

A tenant's deadlines are counted in its country's main time zone. The tz database lists a country's zones in no
order of importance (Brazil's first is Fernando de Noronha's, Australia's Lord Howe Island's), so the countries
with several zones name their main one here. Pages and emails never show a zone's IANA name nor a bare offset:
they say "Taipei time" (「台北時間」), from the table of cities below, or, for a zone not in it, the city of its
name ("America/Indiana/Indianapolis": "Indianapolis time").
"""

import functools
import zoneinfo

import pytz
from django.utils.translation import gettext, pgettext_lazy

# Countries whose main zone is not the first the tz database lists for them.
MAIN_ZONES = {
    "AR": "America/Argentina/Buenos_Aires",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "DE": "Europe/Berlin",
    "ES": "Europe/Madrid",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "NZ": "Pacific/Auckland",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "US": "America/New_York",
}

# The city each zone is named by, in the page's language: the tenants' main zones and the zones partners' browsers
# report most. A zone missing here is named by the city of its IANA name, untranslated.
CITIES = {
    "Africa/Cairo": pgettext_lazy("city", "Cairo"),
    "Africa/Johannesburg": pgettext_lazy("city", "Johannesburg"),
    "Africa/Lagos": pgettext_lazy("city", "Lagos"),
    "Africa/Nairobi": pgettext_lazy("city", "Nairobi"),
    "America/Argentina/Buenos_Aires": pgettext_lazy("city", "Buenos Aires"),
    "America/Bogota": pgettext_lazy("city", "Bogotá"),
    "America/Chicago": pgettext_lazy("city", "Chicago"),
    "America/Denver": pgettext_lazy("city", "Denver"),
    "America/Los_Angeles": pgettext_lazy("city", "Los Angeles"),
    "America/Mexico_City": pgettext_lazy("city", "Mexico City"),
    "America/New_York": pgettext_lazy("city", "New York"),
    "America/Santiago": pgettext_lazy("city", "Santiago"),
    "America/Sao_Paulo": pgettext_lazy("city", "São Paulo"),
    "America/Toronto": pgettext_lazy("city", "Toronto"),
    "America/Vancouver": pgettext_lazy("city", "Vancouver"),
    "Asia/Bangkok": pgettext_lazy("city", "Bangkok"),
    "Asia/Dubai": pgettext_lazy("city", "Dubai"),
    "Asia/Hong_Kong": pgettext_lazy("city", "Hong Kong"),
    "Asia/Jakarta": pgettext_lazy("city", "Jakarta"),
    "Asia/Kolkata": pgettext_lazy("city", "Kolkata"),
    "Asia/Kuala_Lumpur": pgettext_lazy("city", "Kuala Lumpur"),
    "Asia/Manila": pgettext_lazy("city", "Manila"),
    "Asia/Seoul": pgettext_lazy("city", "Seoul"),
    "Asia/Shanghai": pgettext_lazy("city", "Shanghai"),
    "Asia/Singapore": pgettext_lazy("city", "Singapore"),
    "Asia/Taipei": pgettext_lazy("city", "Taipei"),
    "Asia/Tokyo": pgettext_lazy("city", "Tokyo"),
    "Australia/Melbourne": pgettext_lazy("city", "Melbourne"),
    "Australia/Perth": pgettext_lazy("city", "Perth"),
    "Australia/Sydney": pgettext_lazy("city", "Sydney"),
    "Europe/Amsterdam": pgettext_lazy("city", "Amsterdam"),
    "Europe/Berlin": pgettext_lazy("city", "Berlin"),
    "Europe/Brussels": pgettext_lazy("city", "Brussels"),
    "Europe/Dublin": pgettext_lazy("city", "Dublin"),
    "Europe/Helsinki": pgettext_lazy("city", "Helsinki"),
    "Europe/Istanbul": pgettext_lazy("city", "Istanbul"),
    "Europe/Kyiv": pgettext_lazy("city", "Kyiv"),
    "Europe/Lisbon": pgettext_lazy("city", "Lisbon"),
    "Europe/London": pgettext_lazy("city", "London"),
    "Europe/Madrid": pgettext_lazy("city", "Madrid"),
    "Europe/Moscow": pgettext_lazy("city", "Moscow"),
    "Europe/Oslo": pgettext_lazy("city", "Oslo"),
    "Europe/Paris": pgettext_lazy("city", "Paris"),
    "Europe/Rome": pgettext_lazy("city", "Rome"),
    "Europe/Stockholm": pgettext_lazy("city", "Stockholm"),
    "Europe/Warsaw": pgettext_lazy("city", "Warsaw"),
    "Europe/Zurich": pgettext_lazy("city", "Zurich"),
    "Pacific/Auckland": pgettext_lazy("city", "Auckland"),
    "UTC": pgettext_lazy("city", "UTC"),
}
# Other names of the same zones (old names browsers may still report).
ALIASES = {"Asia/Calcutta": "Asia/Kolkata", "Europe/Kiev": "Europe/Kyiv", "Etc/UTC": "UTC", "GMT": "UTC"}


def country_time_zone(country):
    """The main time zone of ``country`` (ISO 3166 code), as a ZoneInfo; UTC for none or an unknown one."""
    return _zone(MAIN_ZONES.get(country) or (pytz.country_timezones.get(country) or ["UTC"])[0])


@functools.lru_cache(maxsize=64)
def _zone(key):
    return zoneinfo.ZoneInfo(key)


# The areas of the zones a user may choose, in the page's language (the settings page groups zones by them).
AREAS = {
    "Africa": pgettext_lazy("time zone area", "Africa"),
    "America": pgettext_lazy("time zone area", "Americas"),
    "Antarctica": pgettext_lazy("time zone area", "Antarctica"),
    "Asia": pgettext_lazy("time zone area", "Asia"),
    "Atlantic": pgettext_lazy("time zone area", "Atlantic Ocean"),
    "Australia": pgettext_lazy("time zone area", "Australia"),
    "Europe": pgettext_lazy("time zone area", "Europe"),
    "Indian": pgettext_lazy("time zone area", "Indian Ocean"),
    "Pacific": pgettext_lazy("time zone area", "Pacific Ocean"),
    "UTC": pgettext_lazy("time zone area", "Coordinated Universal Time"),
}


@functools.lru_cache(maxsize=1)
def time_zone_names():
    """Every zone a user may choose: the tz database's current "Area/City" zones (no "Etc/GMT+3", no
    "US/Eastern", no old names), and UTC."""
    areas = tuple(f"{area}/" for area in AREAS)
    available = zoneinfo.available_timezones()
    return frozenset(key for key in pytz.common_timezones if key.startswith(areas) and key in available) | {"UTC"}


def time_zone_choices():
    """[(key, label)] of the zones a user may choose, named by their city in the active language: "Taipei",
    "Indianapolis (Indiana)"."""
    choices = []
    for key in time_zone_names():
        parts = key.split("/")
        label = zone_city(key) if len(parts) < 3 else f"{zone_city(key)} ({parts[1].replace('_', ' ')})"
        choices.append((key, label))
    return choices


def time_zone_valid(key):
    """The zone ``key`` names when a user may choose it (an alias gives its zone), else None."""
    key = ALIASES.get(key, key)
    return key if key in time_zone_names() else None


def zone_key(zone):
    return ALIASES.get(getattr(zone, "key", None) or str(zone), getattr(zone, "key", None) or str(zone))


def zone_city(zone):
    """The city ``zone`` (a ZoneInfo or a key) is named by, in the active language."""
    key = zone_key(zone)
    city = CITIES.get(key)
    if city is not None:
        return str(city)
    return key.rsplit("/", 1)[-1].replace("_", " ")


def zone_label(zone):
    """ "Taipei time" (「台北時間」): the zone named by its city, in the active language."""
    return gettext("%(city)s time") % {"city": zone_city(zone)}


def zone_time(zone, time_text):
    """ "23:59 Taipei time" (「台北時間 23:59」): a time (already formatted) with its zone named by its city."""
    return gettext("%(time)s %(city)s time") % {"time": time_text, "city": zone_city(zone)}
