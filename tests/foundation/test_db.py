"""PostgreSQL timestamps read by psycopg's C loader (magflow/db.py) are the values Django's loader gives."""

import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.db import connection

from magflow import db

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's own loader")

TIMESTAMPS = [
    "2026-11-28 19:55:04.141634+00",
    "2026-03-29 03:30:00.000001+03",  # a daylight saving change in Bucharest
    "1901-01-01 00:00:00.5+01:44:24",  # Bucharest's old local mean time
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
]


def _read(sql: str, django_loader: bool) -> list:
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if django_loader:
            from django.db.backends.postgresql.psycopg_any import register_tzloader

            register_tzloader(connection.timezone, raw)
        raw.execute(sql)
        return list(raw.fetchone())


@on_postgresql
def test_it_reads_timestamps_with_the_c_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(
        psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT
    )
    assert loader is db.UtcTimestamptzLoader


@on_postgresql
def test_it_reads_the_same_values_as_djangos_loader():
    sql = "SELECT " + ", ".join(f"'{text}'::timestamptz" for text in TIMESTAMPS) + ", NULL::timestamptz, now()"
    fast, reference = _read(sql, django_loader=False), _read(sql, django_loader=True)
    assert fast[:-1] == reference[:-1] and fast[-2] is None
    assert [value.tzinfo for value in fast if value] == [datetime.UTC] * (len(TIMESTAMPS) + 1)
    assert fast[0] == datetime.datetime(2026, 11, 28, 19, 55, 4, 141634, tzinfo=datetime.UTC)


@on_postgresql
def test_it_refuses_infinity_as_djangos_loader_does():
    for django_loader in (False, True):
        with pytest.raises(psycopg.DataError):
            _read("SELECT 'infinity'::timestamptz", django_loader=django_loader)


def test_it_leaves_a_connection_outside_utc_to_django():
    def refuse(*args: object) -> None:
        raise AssertionError("registered a loader")

    adapters = SimpleNamespace(register_loader=refuse)
    other_zone = SimpleNamespace(
        vendor="postgresql",
        timezone=ZoneInfo("Europe/Bucharest"),
        connection=SimpleNamespace(adapters=adapters, info=SimpleNamespace(parameter_status=lambda name: "UTC")),
    )
    db.use_c_timestamp_loader(sender=None, connection=other_zone)
    session_elsewhere = SimpleNamespace(
        vendor="postgresql",
        timezone=datetime.UTC,
        connection=SimpleNamespace(
            adapters=adapters, info=SimpleNamespace(parameter_status=lambda name: "Europe/Bucharest")
        ),
    )
    db.use_c_timestamp_loader(sender=None, connection=session_elsewhere)
