"""LZ4 instead of pglz for the large JSON and text columns, on PostgreSQL 14+ built with LZ4.

An offer's raw record is 2–3 KB of JSON, past PostgreSQL's 2 KB threshold, so every write of it
is compressed. pglz (the default) cost about a quarter of the database's time in a first sync;
LZ4 compresses several times faster for a similar size. Only values written from now on use it
(PostgreSQL reads both). Database settings only: no model state changes, SQLite is untouched.
"""

from django.db import migrations

COLUMNS = [
    ("emag_offer", "raw"),
    ("emag_product", "description"),
    ("emag_product", "characteristics"),
    ("emag_syncerror", "record"),
]


def _lz4_available(schema_editor) -> bool:
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
    return bool(row and row[0])


def _set_compression(schema_editor, method: str) -> None:
    for table, column in COLUMNS:
        schema_editor.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" SET COMPRESSION {method}')


def use_lz4(apps, schema_editor) -> None:
    if _lz4_available(schema_editor):
        _set_compression(schema_editor, "lz4")


def use_default(apps, schema_editor) -> None:
    if _lz4_available(schema_editor):
        _set_compression(schema_editor, "DEFAULT")


class Migration(migrations.Migration):
    dependencies = [
        ("emag", "0004_search_trigram_indexes"),
    ]

    operations = [migrations.RunPython(use_lz4, use_default, elidable=False)]
