"""The usage page's chart: server-side SVG coordinates (no charting script, nothing inline for the CSP to refuse)."""

from django.utils.dateformat import format as date_format
from django.utils.translation import pgettext

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 640, 200, 36


def usage_chart(records):
    """Server-side SVG coordinates for one product's monthly active users and paid units."""
    if not records:
        return None
    top = max(max(r.active_users, r.paid_units) for r in records) or 1
    width = CHART_WIDTH - 2 * CHART_PAD
    height = CHART_HEIGHT - 2 * CHART_PAD
    step = width / max(len(records) - 1, 1)
    # Month names in the active language; the format is translated too (zh-Hant: 2026年1月).
    month_format = pgettext("month on the usage chart's axis", "M Y")

    def points(values):
        return " ".join(
            f"{CHART_PAD + n * step:.1f},{CHART_PAD + height - value * height / top:.1f}"
            for n, value in enumerate(values)
        )

    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "top": top,
        "top_y": CHART_PAD,
        "base_y": CHART_PAD + height,
        "left": CHART_PAD,
        "right": CHART_WIDTH - CHART_PAD,
        "users": points([r.active_users for r in records]),
        "units": points([r.paid_units for r in records]),
        "labels": [
            {"x": f"{CHART_PAD + n * step:.1f}", "text": date_format(r.month, month_format)}
            for n, r in enumerate(records)
            if n in (0, len(records) - 1) or n % 3 == 0
        ],
    }
