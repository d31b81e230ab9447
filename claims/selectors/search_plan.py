"""How the list's search reads its matches (SPEC §11: 10x the claims for less than 2x the time), from a sample of
the claims' search text: PostgreSQL's own statistics of ``claims_claim.search_text`` (``pg_stats``: the histogram
ANALYZE keeps, 1,000 values since migration 0017).

The trigram index (``claim_search_trgm``) answers a substring from the posting lists of its trigrams: a rare piece
("39997") costs what its few matches cost, a piece every claim holds ("bench", "customer", "example") a posting
list as long as the table, whatever else the search says. Measured at 200,000 claims: "Bench customer 39997"
took 21 ms in the index against 0.3 ms for "39997" alone, and "bench-customer-39997.example" 344 ms. And a
search that most claims match (a product, an MPN ID) costs its thousands of matches in a bitmap scan, ten times
more at ten times the claims, when the partner's (partner, sort column, id) index read in order finds the first
page's matches after a few hundred rows, however many claims there are.

So each search is planned before it runs:

- **walk**: when the sample says that at least ``WALK_FRACTION`` of the claims match every word, no condition is
  given to the trigram index (``strpos``, which no index answers): PostgreSQL reads the partner's claims in the
  list's order and stops at the page's window;
- **index**: else the trigram index gets one condition, the piece of the search (a run of letters or digits of a
  word, three or more, or a stretch of one whose trigrams the sample never holds: a typo's "stme" in "custmer")
  whose trigrams the sample holds least often, and every word is checked on the rows it finds (``strpos``; a
  close match's ``word_similarity``). The close matches' numbers match whole (``number_whole``): a number's own
  index (``claim_search_numbers``, migration 0022) reads the claims that hold it, when the sample holds it as
  rarely as any piece.

The results are the same whatever the plan: every word is always a condition; only which one the index reads
changes. Without statistics (a new or small table) the search is what it was: every word a condition of the
index. The sample is statistics of the whole table, kept in this process for ``SAMPLE_SECONDS``: it decides a
plan, never what a partner sees.
"""

import collections
import re
import time

from django.db import connection
from django.db.models import BooleanField, F, FloatField, Func, Q, Value
from django.db.models.functions import StrIndex
from django.db.models.lookups import GreaterThan, GreaterThanOrEqual

# At least this share of the sample matching every word: the partner's index read in order finds a page of matches
# in about 226 / share rows, the same at any size.
WALK_FRACTION = 0.01
# The sample is re-read from pg_stats this often (ANALYZE refreshes it as the table grows).
SAMPLE_SECONDS = 300
# A piece the trigram index can look up: three letters or digits in a row (pg_trgm's trigrams).
_PIECE = re.compile(r"[^\W_]{3,}")

_sample = {"values": None, "read": float("-inf")}
# Counts of the sample's values (_sample_counts), and at most this many trigrams' (then counted afresh).
_counts = {"sample": None, "trigrams": {}, "numbers": None}
TRIGRAMS_KEPT = 20_000
# The search text's numbers, as migration 0022's index (claim_search_numbers) holds them: its runs of digits,
# without leading zeros ("ca-039997 bench customer 00716" holds 39997 and 716, neither 3999 nor 0716).
NUMBERS_SPLIT = "[^0-9]+(?:0+(?=[0-9]))?"
_DIGITS = re.compile(r"[0-9]+")


def search_sample():
    """Values of ``claims_claim.search_text`` (PostgreSQL's histogram of it), [] without statistics."""
    now = time.monotonic()
    if _sample["values"] is None or now - _sample["read"] > SAMPLE_SECONDS:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT histogram_bounds::text::text[] FROM pg_stats
                WHERE schemaname = current_schema() AND tablename = 'claims_claim' AND attname = 'search_text'
                """
            )
            row = cursor.fetchone()
        _sample.update(values=list(row[0]) if row and row[0] else [], read=now)
    return _sample["values"]


def search_sample_forget():
    """Read the sample again at the next search (tests, after an ANALYZE)."""
    _sample.update(values=None, read=float("-inf"))


def _sample_counts(sample):
    """What has been counted in ``sample``, kept while it is the sample: each search asks for a few trigrams, and
    counting one is a pass over its 1,000 values (a tenth of a millisecond); the whole numbers are counted at once."""
    if _counts["sample"] is not sample:
        _counts.update(sample=sample, trigrams={}, numbers=None)
    return _counts


def _trigram_count(trigram, sample):
    """How many of the sample's values hold ``trigram``."""
    counted = _sample_counts(sample)["trigrams"]
    if trigram not in counted:
        if len(counted) >= TRIGRAMS_KEPT:
            counted.clear()
        counted[trigram] = sum(1 for value in sample if trigram in value)
    return counted[trigram]


def _trigram_cost(piece, sample):
    """How many of the sample's values hold each trigram of ``piece``, summed: the posting lists the index reads."""
    return sum(_trigram_count(piece[i : i + 3], sample) for i in range(len(piece) - 2))


def _rare_runs(piece, sample):
    """The stretches of ``piece`` whose every trigram the sample never holds, of two trigrams or more: what a typo
    puts in a word ("custmer": "stme", where "customer" has "stom"). The index reads only those trigrams' short
    posting lists; given the whole piece it also reads the posting lists of the trigrams every claim holds ("cus",
    "mer"), and they grow with the table."""
    absent = [_trigram_count(piece[i : i + 3], sample) == 0 for i in range(len(piece) - 2)]
    runs, start = [], None
    for i, rare in enumerate([*absent, False]):
        if rare and start is None:
            start = i
        elif not rare and start is not None:
            if i - start >= 2 and i - start < len(absent):
                runs.append(piece[start : i + 2])
            start = None
    return runs


def search_number(word):
    """``word`` as the search text's numbers hold it (NUMBERS_SPLIT): without leading zeros."""
    return word.lstrip("0") or "0"


def _numbers(value):
    return {search_number(digits) for digits in _DIGITS.findall(value)}


def _number_cost(number, sample):
    """How many of the sample's values hold ``number`` whole: the posting list claim_search_numbers reads."""
    counted = _sample_counts(sample)
    if counted["numbers"] is None:
        counted["numbers"] = collections.Counter(number for value in sample for number in _numbers(value))
    return counted["numbers"][number]


class _NumbersHold(Func):
    """The search text's numbers hold this one (``regexp_split_to_array(search_text, ...) @> ARRAY[number]``): the
    expression of migration 0022's GIN index, written as it is there so that the planner matches it."""

    arg_joiner = f", '{NUMBERS_SPLIT}') @> ARRAY["
    template = "(regexp_split_to_array(%(expressions)s]::text[])"
    output_field = BooleanField()


class _NumberAmong(Func):
    """The same condition as ``_NumbersHold`` (``number = ANY(...)``), in a form no index answers."""

    arg_joiner = " = ANY(regexp_split_to_array("
    template = f"(%(expressions)s, '{NUMBERS_SPLIT}')))"
    output_field = BooleanField()


def number_whole(number, *, indexed=True):
    """The search text holds ``number`` (digits) as a whole number, whatever its leading zeros: 39997 is in
    "ca-039997" and "customer 39997", not in "ca-139997" nor "399970". ``indexed``: the condition
    claim_search_numbers answers; else one that no index answers (checked on the rows another condition found)."""
    if indexed:
        return Q(_NumbersHold(F("search_text"), Value(search_number(number))))
    return Q(_NumberAmong(Value(search_number(number)), F("search_text")))


def _holding(words, sample):
    """The sample's values that hold every word (a word at a time: a list comprehension, a tenth of the time)."""
    for word in words:
        sample = [value for value in sample if word in value]
    return sample


def _contains(word):
    """``word`` is in the search text, as a condition no index answers (``strpos``)."""
    return Q(GreaterThan(StrIndex(F("search_text"), Value(word)), 0))


def _close(word, threshold):
    """``word`` is within a letter or so of a stretch of the search text, as ``<%`` says it, without the index."""
    similarity = Func(Value(word), F("search_text"), function="word_similarity", output_field=FloatField())
    return Q(GreaterThanOrEqual(similarity, Value(threshold, output_field=FloatField())))


def search_planned(words, *, fuzzy_words, index_condition, threshold, whole_numbers=frozenset()):
    """The search's condition with its plan (module docstring), or None without a sample (the caller's own).

    ``words``: the search's words, lowercased; ``fuzzy_words``: those that may also match as close matches;
    ``index_condition(word)``: the condition of ``word`` that the trigram index answers (a Q); ``whole_numbers``:
    the words (digits) that match as a whole number only (``number_whole``: the close matches' numbers).
    """
    sample = search_sample()
    if not sample:
        return None
    condition = Q()
    for word in words:
        if word in fuzzy_words:
            condition &= _contains(word) | _close(word, threshold)
        else:
            condition &= number_whole(word, indexed=False) if word in whole_numbers else _contains(word)
    exact = [word for word in words if word not in fuzzy_words and word not in whole_numbers]
    # The sample's share that holds every word: plenty, and the ordered walk finds a page soon.
    if not fuzzy_words and len(_holding(words, sample)) >= WALK_FRACTION * len(sample):
        return condition
    # The piece whose trigrams the sample holds least (an exact word's, or a stretch of it that the sample never
    # holds), or a whole number the sample holds as rarely (claim_search_numbers' posting list: a number inside
    # longer ones costs nothing there); a close match's own word only if there is neither.
    pieces = [piece for word in exact for piece in _PIECE.findall(word) or ([word] if len(word) >= 3 else [])]
    pieces += [run for piece in pieces for run in _rare_runs(piece, sample)]
    reads = [((_number_cost(search_number(n), sample), 0, -len(n), n), number_whole(n)) for n in whole_numbers]
    reads += [((_trigram_cost(p, sample), 1, -len(p), p), Q(search_text__contains=p)) for p in pieces]
    if reads:
        return condition & min(reads, key=lambda read: read[0])[1]
    candidates = [word for word in words if word in fuzzy_words]
    if not candidates:
        return condition  # nothing the index can look up: the ordered walk
    word = min(candidates, key=lambda w: (_trigram_cost(w, sample), -len(w)))
    return condition & index_condition(word)
