"""The admin offer list at 100,000 offers: time to render page 1, a filtered page, a search and a deep page.

    .venv/bin/python bench/bench_admin.py [--offers 100000] [--repeat 20]

Each page is rendered in process by Django's test client (the whole request: middleware, session,
permissions, queries, template) with DEBUG off and production settings, as a superuser, against
the PostgreSQL bench database seeded by bench/seed_offers.py. The first request of each page warms
caches and is not counted. Figures: median and p95 of `--repeat` renders, and the number of SQL
queries one render makes (which must not grow with the table).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import (
    BENCH_DATABASE_URL,
    create_database,
    machine,
    machine_speed,
    markdown_table,
    percentile,
    use_bench_env,
)

ADMIN_EMAIL = "bench-admin@example.com"
# Our own budget for a staff page (the issue sets none): half a second.
BUDGET_MS = 500.0


def pages(offer_id: int, main_account_id: int) -> dict[str, str]:
    return {
        "offer list, page 1": "/admin/emag/offer/",
        "filtered (account, active, sellable, low stock)": (
            f"/admin/emag/offer/?account__id__exact={main_account_id}&status__exact=1&is_sellable__exact=1&stock=low"
        ),
        "search by name": "/admin/emag/offer/?q=lampa",
        "search by SKU": "/admin/emag/offer/?q=MOU-0000001",
        "page 1,000 of the list": "/admin/emag/offer/?p=1000",
        "offer detail": f"/admin/emag/offer/{offer_id}/change/",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--database-url", default=BENCH_DATABASE_URL)
    args = parser.parse_args()

    create_database(args.database_url)
    use_bench_env(args.database_url)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from seed_offers import seed

    from emag.models import Offer, SellerAccount

    seeded = Offer.objects.filter(account__name__in=["main", "fbe"]).count()
    if args.reseed or seeded != args.offers:
        print(f"  seeding: {seed(args.offers, reset=True)}")
    total = Offer.objects.count()

    user, _ = get_user_model().objects.get_or_create(
        email=ADMIN_EMAIL, defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    print(f"machine: {machine()}")
    print(f"machine speed before: {machine_speed(args.database_url)}", flush=True)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"offers in the database: {total}")

    main_account = SellerAccount.objects.get(name="main")
    first_offer = Offer.objects.filter(account=main_account).order_by("emag_id").first()
    rows = []
    for name, url in pages(first_offer.pk, main_account.pk).items():
        response = client.get(url)
        assert response.status_code == 200, f"{url} answered {response.status_code}"
        timings = []
        queries = 0
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            queries = len(captured)
        median = statistics.median(timings)
        p95 = percentile(timings, 95)
        verdict = "within" if p95 < BUDGET_MS else "OVER"
        print(
            f"admin {name}: median {median:.0f} ms, p95 {p95:.0f} ms, {queries} queries, "
            f"{len(response.content) // 1024} KiB (budget p95 < {BUDGET_MS:.0f} ms: {verdict})",
            flush=True,
        )
        rows.append([name, f"{median:.0f}", f"{p95:.0f}", queries, f"{len(response.content) // 1024}"])

    print()
    print(f"Admin offer list, {total:,} offers in PostgreSQL (machine: {machine()})")
    print()
    print(markdown_table(["page", "median ms", "p95 ms", "SQL queries", "KiB"], rows))
    print()
    print(f"machine speed after: {machine_speed(args.database_url)}")


if __name__ == "__main__":
    main()
