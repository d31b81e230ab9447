"""The usage page's chart: server-side SVG coordinates (no charting script, nothing inline for the CSP to refuse)."""

import math

from django.contrib.humanize.templatetags.humanize import intcomma
from django.template.defaultfilters import date as date_filter
from django.utils.translation import pgettext

# A viewBox small enough that its text stays readable when a phone scales it to ~330 px; CSS caps its width on
# a desktop (claims.css .usage-chart).
CHART_WIDTH, CHART_HEIGHT = 480, 240
PAD_TOP, PAD_RIGHT, PAD_BOTTOM = 14, 16, 30
# Room left of the axis for the widest tick label, per character at the labels' font size (claims.css).
LABEL_CHAR, LABEL_GAP = 9, 8
TICKS = 4


def nice_ticks(top, count=TICKS):
    """Round tick values from 0 to at least ``top``: steps of 1, 2, 2.5 or 5 times a power of ten, about
    ``count`` of them (top 108 -> 0, 50, 100, 150)."""
    if top <= 0:
        return [0, 1]
    raw = top / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if step < 1:  # counts of users and units are whole numbers
        step = 1
    ticks = [0]
    while ticks[-1] < top:
        ticks.append(ticks[-1] + step)
    return [int(t) if float(t).is_integer() else t for t in ticks]


def usage_chart(records, month_format=None):
    """Server-side SVG coordinates for one product's monthly active users and paid units, with a y axis of
    round ticks and month labels on the x axis."""
    if not records:
        return None
    ticks = nice_ticks(max(max(r.active_users, r.paid_units) for r in records))
    top = ticks[-1]
    labels = [intcomma(t) for t in ticks]
    left = LABEL_GAP * 2 + LABEL_CHAR * max(len(str(label)) for label in labels)
    width = CHART_WIDTH - left - PAD_RIGHT
    height = CHART_HEIGHT - PAD_TOP - PAD_BOTTOM
    base_y = PAD_TOP + height
    step = width / max(len(records) - 1, 1)
    # Month names in the active language; the format is translated too (zh-Hant: 2026年1月).
    month_format = month_format or pgettext("month on the usage chart's axis", "M Y")

    def y(value):
        return base_y - value * height / top

    def points(values):
        return " ".join(f"{left + n * step:.1f},{y(value):.1f}" for n, value in enumerate(values))

    # Month labels: the first, the last and every third, fewer when many months would collide.
    every = 3 if len(records) <= 12 else 6
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "top": top,
        "base_y": base_y,
        "left": left,
        "right": CHART_WIDTH - PAD_RIGHT,
        "label_x": left - LABEL_GAP,
        "ticks": [{"y": f"{y(t):.1f}", "text": label} for t, label in zip(ticks, labels, strict=True)],
        "users": points([r.active_users for r in records]),
        "units": points([r.paid_units for r in records]),
        "labels": [
            {
                "x": f"{left + n * step:.1f}",
                "text": date_filter(r.month, month_format),
                "anchor": "start" if n == 0 and len(records) > 1 else "end" if n == len(records) - 1 else "middle",
            }
            for n, r in enumerate(records)
            if n in (0, len(records) - 1) or (n % every == 0 and len(records) - 1 - n >= every // 2 + 1)
        ],
    }
