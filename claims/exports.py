"""CSV exports: the Customer associations list (streamed) and a claim's usage data. Cells read as the pages show
them, and nothing a spreadsheet would run as a formula, whichever separator it splits on (``csv_row``)."""

import re

from django.http import StreamingHttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from associations.zones import zone_time
from claims import selectors
from claims.models import ClaimStatus

# Excel reads a CSV as the system's ANSI code page unless it starts with a UTF-8 byte order mark.
CSV_BOM = "\ufeff"
CSV_COLUMNS = [
    _("Claim name"),
    _("Claim number"),
    _("Customer"),
    _("Customer domain"),
    _("Directory ID"),
    _("MPN ID"),
    _("Solution area"),
    _("Activity"),
    _("Products"),
    _("Status"),
    _("Submitted"),
    _("Opt-out deadline"),
]


def list_dates(claim):
    """The list's date cells, shared with its CSV so that both show the same text. A draft (and an expired one:
    only a draft expires) was never submitted: no date (its ``submitted_at`` is when the wizard started it;
    submitting it sets the real one)."""
    if claim.status in (ClaimStatus.DRAFT, ClaimStatus.EXPIRED):
        cells = {"submitted_iso": "", "submitted": ""}
    else:
        submitted = timezone.localtime(claim.submitted_at)
        cells = {"submitted_iso": submitted.isoformat(), "submitted": f"{submitted:%Y-%m-%d}"}
    if claim.opt_out_deadline:
        # In the viewer's time zone, as every time of the page (SPEC §15); the page names the zone once.
        local = timezone.localtime(claim.opt_out_deadline)
        cells["deadline_iso"] = local.isoformat()
        cells["deadline_date"] = f"{local:%Y-%m-%d}"
        cells["deadline_time"] = f"{local:%H:%M}"
        # The page also gives it on the customer's clock when that reads otherwise (SPEC §15); the CSV does not.
        if claim.tenant_id:
            customer = claim.opt_out_deadline.astimezone(claim.time_zone)
            if customer.replace(tzinfo=None) != local.replace(tzinfo=None):
                text = f"{customer:%H:%M}" if customer.date() == local.date() else f"{customer:%Y-%m-%d %H:%M}"
                cells["deadline_customer"] = zone_time(claim.time_zone, text)
    return cells


# A formula trigger (= + - @, a tab or a carriage return) at the start of the cell or after a separator a
# spreadsheet may split the line on (a comma, a semicolon, a tab, a line break), with any spaces and quotes between.
_FORMULA = re.compile(r'(^|[,;\t\r\n])([ "]*)(?=[=+\-@\t\r])')
# What makes a cell quoted: every separator a spreadsheet may split on, not only the comma, and the quote itself.
_QUOTED = re.compile(r'[,;\t\r\n"]')


def csv_cell(value):
    """One cell as CSV text that no spreadsheet runs as a formula (CSV injection), whether it splits the line on
    commas, semicolons or tabs.

    Wherever a formula trigger starts the cell or follows a separator, an apostrophe goes before it (``=1`` is
    ``'=1``; ``Q4;=1+1`` is ``Q4;'=1+1``): a spreadsheet splitting on that separator starts a cell there, and the
    apostrophe makes it text. A cell holding any separator is also quoted, so that a spreadsheet splitting on it
    keeps the cell whole. Anything else, counts included, is written as it is.
    """
    if isinstance(value, int):  # a count: never a formula, and a spreadsheet reads it as a number
        return str(value)
    text = _FORMULA.sub(r"\1\2'", str(value))
    if _QUOTED.search(text):
        text = '"' + text.replace('"', '""') + '"'
    return text


def csv_row(cells):
    """One line of CSV (``csv_cell`` for each cell), ending as Python's csv module ends it."""
    return ",".join(csv_cell(cell) for cell in cells) + "\r\n"


def claims_csv(claims):
    """The filtered list as CSV, streamed in chunks: memory stays flat however many claims there are."""
    # The rows are made while streaming, after the view and the middleware returned: in the request's language
    # and the viewer's time zone, kept here.
    language, zone = translation.get_language(), timezone.get_current_timezone()

    def rows():
        with translation.override(language), timezone.override(zone):
            yield from _claims_csv_rows(claims)

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="customer-associations-{timezone.localdate()}.csv"'
    return response


def _claims_csv_rows(claims):
    yield CSV_BOM
    yield csv_row(CSV_COLUMNS)
    for claim in claims.select_related("location").iterator(chunk_size=2000):
        dates = list_dates(claim)
        yield csv_row(
            [
                claim.name,
                claim.number,
                claim.tenant.name if claim.tenant_id else claim.customer_name,
                claim.domain,
                claim.directory_id,
                claim.location.mpn_id,
                claim.get_solution_area_display(),
                claim.get_activities_display(),
                "; ".join(selectors.claim_products(claim)),
                claim.get_status_display(),
                dates["submitted"],
                f"{dates['deadline_date']} {dates['deadline_time']}" if claim.opt_out_deadline else "",
            ]
        )


def usage_csv_write(response, claim):
    """The usage data of an official claim as CSV rows written to ``response`` (months as dates)."""
    response.write(CSV_BOM)
    header = [
        gettext("Customer"),
        gettext("Directory ID"),
        gettext("Product"),
        gettext("Month"),
        gettext("Monthly active users"),
        gettext("Paid units"),
    ]
    response.write(csv_row(header))
    for product, records in selectors.claim_usage(claim=claim).items():
        for record in records:
            response.write(
                csv_row(
                    [
                        claim.tenant.name,
                        claim.tenant.directory_id,
                        product.name,
                        # A date (the month's first day, ISO 8601) that a spreadsheet reads as a date, not text.
                        record.month.isoformat(),
                        record.active_users,
                        record.paid_units,
                    ]
                )
            )
