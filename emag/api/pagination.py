"""Counting and paging the long lists (offers, products) without an exact COUNT(*) on every request.

An exact count of 100,000 offers under a filter reads every matching row: 15 to 85 ms of the
database's time on each page, more while a sync writes, and the largest cost of a page (the staff's
usual filter, an account's active sellable offers above a stock floor, is counted from one index:
2 to 4 ms, migration 0010). So:

- up to EXACT_COUNT_UP_TO matching rows the count is exact, and cheap (the database stops counting
  at the limit);
- above it, the count is the exact count of the same query taken at most COUNT_CACHE_SECONDS ago
  (cached, then counted again), and the answer says so: `count_is_exact` is false;
- `next` never depends on the count: the page reads one row more than it shows.
"""

import hashlib
import logging
from functools import cached_property

from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.core.paginator import EmptyPage, Page, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from rest_framework.response import Response

from magflow.api import Pagination

logger = logging.getLogger(__name__)

EXACT_COUNT_UP_TO = 1_000
COUNT_CACHE_SECONDS = 30


def count_rows(queryset: QuerySet) -> tuple[int, bool]:
    """(number of rows, whether that number is exact now); see the module's docstring."""
    queryset = queryset.order_by()
    try:
        sql, params = queryset.values("pk").query.sql_with_params()
    except EmptyResultSet:  # a filter nothing can meet (such as an id too large for the column)
        return 0, True
    key = "emag:api:count:" + hashlib.sha256(repr((queryset.db, sql, params)).encode()).hexdigest()
    try:
        cached = cache.get(key)
    except Exception:  # a cache that is down costs an exact count, not the answer
        cached = None
    if cached is not None:
        return cached, False
    bounded = queryset[: EXACT_COUNT_UP_TO + 1].count()
    if bounded <= EXACT_COUNT_UP_TO:
        return bounded, True
    count = queryset.count()
    try:
        cache.set(key, count, COUNT_CACHE_SECONDS)  # only long lists: a short one is always counted exactly
    except Exception:
        logger.warning("The API could not cache a list's count.", exc_info=True)
    return count, True


class LookaheadPage(Page):
    """A page that knows whether another follows from the extra row it read, not from the count."""

    def __init__(self, rows: list, number: int, paginator: "LookaheadPaginator", has_more: bool) -> None:
        super().__init__(rows, number, paginator)
        self.has_more = has_more

    def has_next(self) -> bool:
        return self.has_more

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


class LookaheadPaginator(Paginator):
    @cached_property
    def counted(self) -> tuple[int, bool]:
        return count_rows(self.object_list)

    @cached_property
    def count(self) -> int:
        return self.counted[0]

    def page(self, number: object) -> LookaheadPage:
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer")
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        start = (number - 1) * self.per_page
        rows = list(self.object_list[start : start + self.per_page + 1])
        if not rows and number > 1:
            raise EmptyPage("That page contains no results")
        return LookaheadPage(rows[: self.per_page], number, self, has_more=len(rows) > self.per_page)


class LargeListPagination(Pagination):
    """?page=N&page_size=M like every list, with `count_is_exact` beside `count` (see the module's docstring)."""

    django_paginator_class = LookaheadPaginator

    def get_paginated_response(self, data: list) -> Response:
        count, exact = self.page.paginator.counted
        return Response(
            {
                "count": count,
                "count_is_exact": exact,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict) -> dict:
        response = super().get_paginated_response_schema(schema)
        properties = response["properties"]
        properties["count"]["description"] = (
            f"Matching rows. Exact up to {EXACT_COUNT_UP_TO:,}; above that, the exact count of the same query "
            f"taken at most {COUNT_CACHE_SECONDS} s earlier (then `count_is_exact` is false)."
        )
        response["properties"] = {
            "count": properties["count"],
            "count_is_exact": {
                "type": "boolean",
                "description": "False when `count` may be up to "
                f"{COUNT_CACHE_SECONDS} s old. `next` is always exact: it is null on the last page.",
            },
            **{name: value for name, value in properties.items() if name != "count"},
        }
        response["required"] = [*response["required"], "count_is_exact"]
        return response
