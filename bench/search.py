"""The list's search at this scale (SPEC §11: 10x the claims for less than 2x the time), statement by statement.

    .venv/bin/python bench/search.py                    # the scale's bench database (bench/data.py builds it)
    .venv/bin/python bench/search.py --claims 20000     # another scale; each keeps its result in var/bench/

For each search variant of ``bench/pages.py`` (a customer by name, by domain, a product most claims hold, an MPN
ID, a customer with a typo: as typed, then its close matches, the page's two searches), signed in as Contoso
Partners, the statement that reads the page's ids (``claims.selectors.claim_list``, the window of
SEARCH_COUNT_MAX + 1) is timed with EXPLAIN ANALYZE (the server's execution time, median of --runs), planned as
the list plans it (claims.selectors.search_plan) and, for comparison, unplanned (every word a condition of the
trigram index: the search before issue 19). Then the planned statement's EXPLAIN (ANALYZE, BUFFERS). The customer
searched is the same kind at every scale (the fourth-last bench tenant, with its five claims). ``--search TEXT``
adds a search of your own (as typed, and its close matches), e.g. the customer that ``bench/pages.py`` searches.

The results are written to ``var/bench/search-<scale>.json``; when a result of a scale ten times smaller (or
larger) is there, each variant's planned statement is compared with it: PASS when 10x the claims cost less than 2x
the work, the shared buffers the statement touched (SPEC §11 says time: on this shared 2-core machine a 2 ms
statement's time moves 2x with the load of the moment, its buffers do not; the times are printed beside them,
those under 1 ms compared as 1 ms).
"""

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import data  # noqa: E402

SCALE_BAR = 2.0
FLOOR_MS = 1.0  # statements under this compare as this: a shared machine's noise is larger


def variants(claims):
    tenant = (claims + 4) // 5 - 3
    return [
        ("Bench customer N", f"Bench customer {tenant:05d}", False),
        ("bench-customer-N.example", f"bench-customer-{tenant}.example", False),
        ("Microsoft Teams", "Microsoft Teams", False),
        ("4100001", "4100001", False),
        # The list's page runs both: the search as typed finds nothing, then its close matches.
        ("Bench custmer N (as typed)", f"Bench custmer {tenant:05d}", False),
        ("Bench custmer N (close matches)", f"Bench custmer {tenant:05d}", True),
    ]


TWO_PASSES = [("as typed", False), ("close matches", True)]


def statement(partner, search, fuzzy):
    from django.db import connection

    from claims import selectors
    from claims.views.claim_list import _shown

    if fuzzy:
        with connection.cursor() as cursor:
            cursor.execute("SET pg_trgm.word_similarity_threshold = %s", [selectors.claim_lists.FUZZY_THRESHOLD])
    claims = _shown(selectors.claim_list(partner=partner, search=search, fuzzy=fuzzy))
    return claims.values_list("pk", flat=True)[: selectors.SEARCH_COUNT_MAX + 1].query.sql_with_params()


def timed(sql, params, runs):
    """(median server ms, shared buffers touched: the statement's work, whatever the machine's load)."""
    from django.db import connection

    times, buffers = [], []
    with connection.cursor() as cursor:
        for _ in range(runs):
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cursor.fetchone()[0][0]
            times.append(plan["Execution Time"])
            buffers.append(plan["Plan"]["Shared Hit Blocks"] + plan["Plan"]["Shared Read Blocks"])
    return statistics.median(times), statistics.median(buffers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: the scale's bench database (bench/data.py)")
    parser.add_argument("--claims", type=int, default=data.DEFAULT_CLAIMS)
    parser.add_argument("--runs", type=int, default=9, help="EXPLAIN ANALYZE runs per statement (median)")
    parser.add_argument("--search", action="append", default=[], help="another search (as typed, close matches)")
    args = parser.parse_args()
    url = args.database_url or data.default_database_url(args.claims)
    data.ensure(url, claims=args.claims)
    env = data.bench_env(url)
    os.environ.update(env)
    import django

    django.setup()
    from associations.models import Partner
    from claims.selectors import search_plan

    partner = Partner.objects.get(name="Contoso Partners")
    planned_sample = search_plan.search_sample
    results = {}
    explains = {}
    extra = [(f"{text} ({kind})", text, fuzzy) for text in args.search for kind, fuzzy in TWO_PASSES]
    for label, search, fuzzy in variants(args.claims) + extra:
        search_plan.search_sample = lambda: []  # unplanned: every word a condition of the index
        before, before_buffers = timed(*statement(partner, search, fuzzy), args.runs)
        search_plan.search_sample = planned_sample
        sql, params = statement(partner, search, fuzzy)
        after, after_buffers = timed(sql, params, args.runs)
        results[label] = {
            "unplanned_ms": before,
            "unplanned_buffers": before_buffers,
            "planned_ms": after,
            "planned_buffers": after_buffers,
        }
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            explains[label] = (search, [row[0] for row in cursor.fetchall()])

    print(f"The list's search at {args.claims:,} claims: the id window's statement (server ms, median of {args.runs})")
    print(f"{'variant':<34} {'unplanned ms':>12} {'buffers':>8} {'planned ms':>10} {'buffers':>8}")
    for label, r in results.items():
        print(
            f"{label:<34} {r['unplanned_ms']:>12.2f} {r['unplanned_buffers']:>8.0f} {r['planned_ms']:>10.2f} "
            f"{r['planned_buffers']:>8.0f}"
        )
    for label, (search, lines) in explains.items():
        print()
        print(f"{label} (q={search!r}), planned: EXPLAIN (ANALYZE, BUFFERS)")
        for line in lines:
            print(f"    {line}")

    folder = Path(env["CPOR_VAR_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"search-{data.scale_label(args.claims)}.json").write_text(json.dumps(results, indent=1))
    failed = []
    for other in (args.claims // 10, args.claims * 10):
        path = folder / f"search-{data.scale_label(other)}.json"
        if other < 1 or not path.exists():
            continue
        small, large = (json.loads(path.read_text()), results) if other < args.claims else (results, None)
        if large is None:
            large = json.loads(path.read_text())
        print()
        low, high = sorted([other, args.claims])
        print(f"10x the claims ({low:,} -> {high:,}), planned: buffers (the bar, < {SCALE_BAR:g}x) and time")
        for label in results:
            if "planned_buffers" not in small.get(label, {}) or "planned_buffers" not in large.get(label, {}):
                continue
            work = large[label]["planned_buffers"] / max(small[label]["planned_buffers"], 1)
            ratio = max(large[label]["planned_ms"], FLOOR_MS) / max(small[label]["planned_ms"], FLOOR_MS)
            verdict = "PASS" if work < SCALE_BAR else "FAIL"
            if verdict == "FAIL":
                failed.append(label)
            a, b = small[label], large[label]
            print(
                f"  {label:<34} buffers {a['planned_buffers']:>6.0f} -> {b['planned_buffers']:>6.0f} ({work:.2f}x),"
                f" {a['planned_ms']:>6.2f} -> {b['planned_ms']:>6.2f} ms "
                f"({ratio:.2f}x)  {verdict}"
            )
    print()
    if failed:
        print("search: FAIL (" + ", ".join(failed) + ")")
        raise SystemExit(1)
    print("search: PASS" + ("" if explains else " (nothing measured)"))


if __name__ == "__main__":
    main()
