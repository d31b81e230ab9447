"""The usage page's chart: server-side SVG coordinates (no charting script, nothing inline for the CSP to refuse)."""

import math
import unicodedata

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
# The month labels' font size on a phone (claims.css: 17 units, the largest it gets), and the room one label takes:
# a Chinese character about as wide as the font, a Latin letter or a digit about 0.6 of it.
TICK_FONT = 17


def label_width(text):
    """About how wide ``text`` is on the x axis, in the viewBox's units, at the phone's font size."""
    return sum(TICK_FONT if unicodedata.east_asian_width(ch) in "WF" else 0.6 * TICK_FONT for ch in text)


def _months_shown(texts, xs):
    """The indexes of the month labels to draw, with their anchors: the first, the last (the newest month, always)
    and every third, fewer when many months would collide; then none that would overlap its neighbour at the phone's
    font size (a long month name, Chinese's 2026年10月), the one before the last giving way to it."""
    last = len(texts) - 1
    every = 3 if last < 12 else 6

    def anchor(n):
        return "start" if n == 0 else "end" if n == last else "middle"

    def span(n):
        width = label_width(texts[n])
        start = {"start": xs[n], "end": xs[n] - width, "middle": xs[n] - width / 2}[anchor(n)]
        return start, start + width

    def clear(before, n):
        return span(before)[1] + LABEL_GAP <= span(n)[0]

    shown = []
    for n in range(last + 1):
        if n not in (0, last) and not (n % every == 0 and last - n >= every // 2 + 1):
            continue
        if shown and not clear(shown[-1], n):
            if n != last:
                continue  # too close to the label before it
            while shown and not clear(shown[-1], n):
                shown.pop()  # the newest month always shows: the labels before it give way
        shown.append(n)
    return [(n, anchor(n)) for n in shown]


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

    texts = [date_filter(r.month, month_format) for r in records]
    xs = [left + n * step for n in range(len(records))]
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
        "labels": [{"x": f"{xs[n]:.1f}", "text": texts[n], "anchor": anchor} for n, anchor in _months_shown(texts, xs)],
    }
