"""Trigram indexes for the API's `search` (a substring, any case), on PostgreSQL only.

Django's `icontains` is `UPPER(col::text) LIKE UPPER('%term%')`: a B-tree cannot serve it, so every
search read the whole catalogue (~220 ms at 100,000 offers). A GIN trigram index on the very same
expression can. These are database objects only (no model state changes), so SQLite, which has no
pg_trgm, migrates as before and `makemigrations --check` stays clean.
"""

from django.db import migrations

# (index name, table, column): the columns the offers and products `search` looks in.
TRIGRAM_INDEXES = [
    ("product_sku_trgm_idx", "emag_product", "sku"),
    ("product_name_trgm_idx", "emag_product", "name"),
    ("product_ean_trgm_idx", "emag_product", "ean_text"),
    ("product_pnk_trgm_idx", "emag_product", "part_number_key"),
    ("offer_pnk_trgm_idx", "emag_offer", "part_number_key"),
]


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in TRIGRAM_INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in TRIGRAM_INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("emag", "0003_syncrun_first_page_notes"),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
