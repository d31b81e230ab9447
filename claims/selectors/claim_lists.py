"""The Customer associations list's queries (SPEC §4, §11): its search, sorts, counts per status and pages, each
an index range or an index lookup, so that a page costs the same at 30 claims as at 2,000,000."""

import re
import uuid

from django.core.paginator import Paginator
from django.db import connection
from django.db.models import BooleanField, Count, F, Func, Prefetch, Q, Value
from django.utils.functional import cached_property

from claims.due import NEEDS_ACTION
from claims.models import Claim, ClaimItem, ClaimStatus
from claims.selectors.search_plan import number_whole, search_planned

# Sortable columns of the list: the query parameter -> the ordering (always ending in a unique column so that
# pages never overlap). Each ordering, forwards or reversed, is one (partner, ...) index of Claim.Meta read in
# order, so a page costs the same at 30 claims as at 200,000. Anything else falls back to the default.
CLAIM_SORTS = {
    "name": ["name", "id"],
    "domain": ["domain", "id"],
    "solution_area": ["solution_area", "id"],
    "status": ["status", "submitted_at", "id"],
    "submitted": ["submitted_at", "id"],
    "opt_out_deadline": ["opt_out_deadline", "id"],
    # What the claim waits for, by when: Claim.due_at (claims.services.due); nothing due sorts last.
    "due": ["due_at", "id"],
}
CLAIM_DEFAULT_SORT = "-submitted"


def claim_sort_ordering(sort):
    """The ORDER BY for a whitelisted sort key ("name", "-name", ...); unknown keys get the default."""
    descending = sort.startswith("-")
    columns = CLAIM_SORTS.get(sort.lstrip("-"))
    if columns is None:
        return claim_sort_ordering(CLAIM_DEFAULT_SORT)
    if descending:
        return [f"-{column}" for column in columns]
    return columns


def search_directory_id(search):
    """The Directory ID (GUID) the search is, with or without braces and in any case; None for other text."""
    try:
        return uuid.UUID(search.strip().strip("{}"))
    except ValueError:
        return None


# "CA-000123", "ca-123", "CA 123": a claim number (Claim.number), whatever the case, dash and zeros.
_CLAIM_NUMBER = re.compile(r"^ca[- ]?0*(\d{1,18})$", re.IGNORECASE)
_NUMBER = re.compile(r"^[\d.\-]+$")
_DIGITS = re.compile(r"^[0-9]+$")
# A close match needs a few letters to be close to anything (pg_trgm's trigrams).
FUZZY_MIN_LENGTH = 3
# How close a word must be (pg_trgm's word similarity: shared trigrams over all): its default, 0.6, misses a letter
# dropped from most words ("custmer" is 0.55 of "customer"); 0.4 finds one in words of five letters or more.
FUZZY_THRESHOLD = 0.4
# At most this many words, each of which must appear (a search is no query language).
SEARCH_WORDS_MAX = 8


def search_claim_number(search):
    """The claim id that the search quotes as a claim number ("CA-000123"), or None."""
    found = _CLAIM_NUMBER.match(search.strip())
    return int(found.group(1)) if found else None


class _WordSimilar(Func):
    """``text <% search_text``: the text is within one letter or so of a stretch of the claim's search text
    (pg_trgm's word similarity over pg_trgm.word_similarity_threshold, 0.6 by default), answered by the trigram
    index of migration 0015."""

    arg_joiner = " <%% "
    template = "(%(expressions)s)"
    output_field = BooleanField()


def claim_search_filter(search, *, fuzzy=False, planned=False):
    """The condition of a search (SPEC §4): a Directory ID matches its tenant's claims, a claim number its claim;
    any other text matches the claims whose search text (migration 0015: number, name, customer, domain,
    Directory ID, MPN ID, products) holds each of its words; ``fuzzy``, each word or one close to it (a typo), and
    each number as a whole number (``number_whole``: "39997" is customer 39997 or claim CA-039997, not CA-139997).

    ``planned``: the same matches, with the part the trigram index reads chosen from the table's statistics
    (claims.selectors.search_plan): the list's search, which must cost about the same at 2,000,000 claims.
    """
    directory_id = search_directory_id(search)
    if directory_id is not None:
        return Q(directory_id=directory_id)
    number = search_claim_number(search)
    if number is not None:
        return Q(pk=number)
    words = search.lower().split()[:SEARCH_WORDS_MAX]
    # A number (an MPN ID, a claim's or a customer's) one digit off is another one: numbers match as typed.
    close = {w for w in words if fuzzy and len(w) >= FUZZY_MIN_LENGTH and not _NUMBER.match(w)}
    # The close matches are the claims of what the partner meant: a number in them is that number, not a piece of
    # every longer number that holds it (at 2,000,000 claims, "39999" is inside a thousand claims' numbers).
    whole = {w for w in words if fuzzy and _DIGITS.match(w)}

    def indexed(word):
        if word in whole:
            return number_whole(word)
        found = Q(search_text__contains=word)
        if word in close:
            # Each word as typed or within a letter or so: the words that do match keep the search narrow (a
            # customer's number), so the trigram index reads few rows whatever the other words' typo.
            found |= Q(_WordSimilar(Value(word), F("search_text")))
        return found

    if planned:
        condition = search_planned(
            words, fuzzy_words=close, index_condition=indexed, threshold=FUZZY_THRESHOLD, whole_numbers=whole
        )
        if condition is not None:
            return condition
    condition = Q()
    for word in words:
        condition &= indexed(word)
    return condition


def _close_threshold_set():
    """FUZZY_THRESHOLD for this connection's ``<%`` (the close matches' queries follow on it). A session setting,
    written before each search for close matches (one statement, in the rare case a search found nothing): only
    that operator reads it, and a pooled connection that lost it answers with pg_trgm's stricter default."""
    with connection.cursor() as cursor:
        cursor.execute("SET pg_trgm.word_similarity_threshold = %s", [FUZZY_THRESHOLD])


def search_may_be_fuzzy(search):
    """Whether a search that found nothing is worth a second look for close matches: not a Directory ID nor a
    claim number (those are exact), and a word of a few letters that is not a number."""
    search = search.strip()
    if search_directory_id(search) is not None or search_claim_number(search) is not None:
        return False
    words = search.lower().split()[:SEARCH_WORDS_MAX]
    return any(len(word) >= FUZZY_MIN_LENGTH and not _NUMBER.match(word) for word in words)


def claim_list(*, partner, search="", status="", sort=CLAIM_DEFAULT_SORT, fuzzy=False):
    """The partner's claims, filtered and sorted, with their products prefetched (one query for all items).

    ``search``: see ``claim_search_filter`` (``fuzzy``: the close matches of a search that found nothing).
    """
    claims = Claim.objects.filter(partner=partner)
    if status in ClaimStatus.values:
        claims = claims.filter(status=status)
    elif status == NEEDS_ACTION:
        claims = claims.filter(status__in=ClaimStatus.needs_action())
    search = search.strip()
    if search:
        if fuzzy:
            _close_threshold_set()
        claims = claims.filter(claim_search_filter(search, fuzzy=fuzzy, planned=True))
    items = ClaimItem.objects.select_related("product").only("claim_id", "product__name", "product__sort_order")
    # The tenant (joined, no extra query) gives the time zone the deadlines are shown in.
    return (
        claims.select_related("tenant")
        .order_by(*claim_sort_ordering(sort))
        .prefetch_related(Prefetch("items", queryset=items))
    )


def claim_status_counts(*, partner):
    """{status: count} for the partner's claims (statuses without claims left out).

    A count is the partner's PartnerClaimCount row plus the deltas the claims_claim triggers have logged since
    the last compaction (migration 0007), summed in one query: one snapshot, so a compaction that moves deltas
    into the counters is seen wholly or not at all. Both tables are read by their partner index: counting
    200,000 rows on every page view took tens of milliseconds.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT status, sum(n)::bigint FROM (
                SELECT status, count AS n FROM claims_partnerclaimcount WHERE partner_id = %(partner)s
                UNION ALL
                SELECT status, delta FROM claims_partnerclaimcountdelta WHERE partner_id = %(partner)s
            ) AS counted
            GROUP BY status
            """,
            {"partner": partner.pk},
        )
        rows = cursor.fetchall()
    return {status: count for status, count in rows if count}


def claim_status_count_mismatches():
    """[(partner_id, status, counted, real count)] where counters plus deltas differ from a real GROUP BY
    (PostgreSQL). The counted side is one query, so a compaction running meanwhile cannot be seen half-way."""
    real = {
        (partner_id, status): n
        for partner_id, status, n in Claim.objects.values_list("partner_id", "status").annotate(n=Count("*")).order_by()
    }
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT partner_id, status, sum(n)::bigint FROM (
                SELECT partner_id, status, count AS n FROM claims_partnerclaimcount
                UNION ALL
                SELECT partner_id, status, delta FROM claims_partnerclaimcountdelta
            ) AS counted
            GROUP BY partner_id, status
            """
        )
        counted = {(partner_id, status): n for partner_id, status, n in cursor.fetchall()}
    return sorted(
        (*key, counted.get(key, 0), real.get(key, 0))
        for key in real.keys() | counted.keys()
        if counted.get(key, 0) != real.get(key, 0)
    )


class CountedPaginator(Paginator):
    """A Paginator told its count (from the counters), so it never runs COUNT(*).

    A page past the middle is read from the other end of the index with the ordering reversed: the last page
    of 200,000 claims skips 0 rows instead of 199,975.
    """

    def __init__(self, object_list, per_page, *, count):
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self):
        return self._known_count

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        if bottom <= self.count - top:
            return self._get_page(_rows(self.object_list, bottom, top), number, self)
        rows = _rows(self.object_list.reverse(), self.count - top, self.count - bottom)
        rows.reverse()
        return self._get_page(rows, number, self)


def _rows(claims, start, stop):
    """claims[start:stop] as a list. Deep in the list, the rows skipped are only ids: the OFFSET runs in a
    subquery that the (partner, column, id) index answers alone (an index-only scan), then the page's rows are
    fetched by id."""
    if start == 0:
        return list(claims[start:stop])
    ids = claims.values_list("pk", flat=True)[start:stop]
    # Same filters, ordering (also when reversed) and prefetch; the filters are rechecked on 25 rows only.
    return list(claims.filter(pk__in=ids))


# A search counts its matches up to here ("More than 200"), in the page's own query: counting every match of a
# common word would cost what the page must not.
SEARCH_COUNT_MAX = 200


class SearchPage:
    """A page of a search: no COUNT(*) over every match. One query reads the ids of this page's matches and of up
    to SEARCH_COUNT_MAX after them, in the list's order (``found``: how many from the start of this page's, at most
    that; ``more``: whether there are more), a second the page's rows by id (the conditions rechecked on those
    rows only). "Previous" and "next" page through them."""

    counted = False

    def __init__(self, object_list, number, per_page):
        start = (number - 1) * per_page
        window = SEARCH_COUNT_MAX
        ids = list(object_list.values_list("pk", flat=True)[start : start + max(window, per_page) + 1])
        shown = ids[:per_page]
        self.object_list = list(object_list.filter(pk__in=shown)) if shown else []
        self.number = number
        self.found = start + min(len(ids), window) if ids else 0
        self.more = len(ids) > window
        self._has_next = len(ids) > per_page

    def has_next(self):
        return self._has_next

    def has_previous(self):
        return self.number > 1

    def next_page_number(self):
        return self.number + 1

    def previous_page_number(self):
        return self.number - 1


def claim_page(claims, *, number, per_page, count=None):
    """Page ``number`` of the list (invalid numbers mean 1).

    With ``count`` (no search: the counters give it) a numbered page, and past the end the last page; without
    (a search), a SearchPage: counting every match of a substring search is what made searches slow.
    """
    if count is not None:
        page = CountedPaginator(claims, per_page, count=count).get_page(number)
        page.counted = True
        return page
    try:
        number = int(number)
    except (TypeError, ValueError):
        number = 1
    # Far past any real page: the OFFSET would scan every match for nothing.
    return SearchPage(claims, max(1, min(number, 10_000)), per_page)
