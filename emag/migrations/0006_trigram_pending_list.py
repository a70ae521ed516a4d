"""A small pending list for the trigram indexes, so a sync's inserts never push search onto a full scan.

A GIN index collects new entries in a pending list (up to 4 MB by default) and merges them later;
every search must read that list whole. While a sync inserted 20,000 new products, the planner
saw the growing list and switched the API's search from the trigram indexes to a sequential scan
of every product: 2-3 s per search instead of 20 ms. With 256 kB the list is merged in small
batches during the sync (its throughput unchanged within measurement noise) and search keeps its
indexes. PostgreSQL only, like the indexes (migration 0004).
"""

from django.db import migrations

TRIGRAM_INDEXES = [
    "product_sku_trgm_idx",
    "product_name_trgm_idx",
    "product_ean_trgm_idx",
    "product_pnk_trgm_idx",
    "offer_pnk_trgm_idx",
]
PENDING_LIST_KB = 256


def set_limit(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f'ALTER INDEX "{name}" SET (gin_pending_list_limit = {PENDING_LIST_KB})')


def reset_limit(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f'ALTER INDEX "{name}" RESET (gin_pending_list_limit)')


class Migration(migrations.Migration):
    dependencies = [
        ("emag", "0005_lz4_compression"),
    ]

    operations = [migrations.RunPython(set_limit, reset_limit, elidable=False)]
