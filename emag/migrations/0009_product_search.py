"""What a search looks in, as one row per product that the database itself keeps current.

Offers and products are searched by the same four texts, all the product's: its name, SKU, EAN and
PNK (the offer's PNK is its product's, both read from the same eMAG record). Migration 0008 kept
them per offer, in `emag_offersearch`, and the products kept their own four trigram indexes for the
products search: every product's texts were indexed up to three times over, which cost a first sync
of 100,000 offers about 40 % more of PostgreSQL's CPU than the searches needed.

`emag_productsearch` holds those texts once per product, with one trigram index, and serves both:
- an offers search is `product_id IN (SELECT product_id FROM emag_productsearch WHERE text LIKE ...)`,
  which PostgreSQL plans on its own for common words (walking the offers in the page's order) and
  rare terms (a SKU, an EAN: from the index);
- a products search is the same with `id IN (...)`.
The offer search table and the products' trigram indexes go.

Triggers keep it current whoever writes (the sync's COPY and upserts, the admin, a shell):
- products inserted: their rows are added;
- products updated: the rows of those whose name, SKU, EAN or PNK changed are rewritten;
- products deleted: their rows go with them (ON DELETE CASCADE).
PostgreSQL's triggers run once per statement over its transition tables, so a page of 100 records
costs one set-based INSERT, not 100 calls. SQLite (the demo) has row triggers and no trigram index.

On SQLite, a later migration that rebuilds emag_product (Django copies a table to alter it) drops
its triggers: such a migration must run the SQLITE trigger statements again. The tests that rename
a product and then search for the new name would fail.

The texts are joined by a newline, which a search term cannot contain: DRF and the admin split
terms on whitespace, and a quoted phrase holding one is searched field by field
(selectors.search_offers, selectors.search_products).
"""

import importlib

from django.db import migrations, models

TABLE = "emag_productsearch"
FIELDS = ("name", "sku", "ean_text", "part_number_key")  # selectors.PRODUCT_SEARCH_FIELDS, in its order
PRODUCT_TRIGRAM_INDEXES = {  # migration 0004's, on UPPER(column)
    "product_sku_trgm_idx": "sku",
    "product_name_trgm_idx": "name",
    "product_ean_trgm_idx": "ean_text",
    "product_pnk_trgm_idx": "part_number_key",
}


POSTGRESQL_NEWLINE = "E'\\n'"
SQLITE_NEWLINE = "char(10)"


def text(product: str, newline: str) -> str:
    """SQL for a product's search text; `product` is the alias of its row."""
    return f"UPPER({f' || {newline} || '.join(f'{product}.{field}' for field in FIELDS)})"


def changed(new: str, old: str, is_distinct: str) -> str:
    return " OR ".join(f"{new}.{field} {is_distinct} {old}.{field}" for field in FIELDS)


POSTGRESQL = [
    f"""CREATE TABLE {TABLE} (
        product_id bigint PRIMARY KEY REFERENCES emag_product (id) ON DELETE CASCADE,
        text text NOT NULL
    )""",
    # A small pending list, as for the trigram indexes before it (migration 0006).
    f"""CREATE INDEX product_search_trgm_idx ON {TABLE} USING gin (text gin_trgm_ops)
        WITH (gin_pending_list_limit = 256)""",
    f"""CREATE FUNCTION emag_productsearch_products_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {TABLE} (product_id, text) SELECT p.id, {text("p", POSTGRESQL_NEWLINE)} FROM new_products p;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION emag_productsearch_products_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {TABLE} s
        SET text = {text("n", POSTGRESQL_NEWLINE)}
        FROM new_products n JOIN old_products o ON o.id = n.id
        WHERE s.product_id = n.id AND ({changed("n", "o", "IS DISTINCT FROM")});
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER emag_productsearch_products_inserted AFTER INSERT ON emag_product
        REFERENCING NEW TABLE AS new_products
        FOR EACH STATEMENT EXECUTE FUNCTION emag_productsearch_products_inserted()""",
    f"""CREATE TRIGGER emag_productsearch_products_updated AFTER UPDATE ON emag_product
        REFERENCING OLD TABLE AS old_products NEW TABLE AS new_products
        FOR EACH STATEMENT EXECUTE FUNCTION emag_productsearch_products_updated()""",
    *(f'DROP INDEX IF EXISTS "{name}"' for name in PRODUCT_TRIGRAM_INDEXES),
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS emag_productsearch_products_inserted ON emag_product",
    "DROP TRIGGER IF EXISTS emag_productsearch_products_updated ON emag_product",
    "DROP FUNCTION IF EXISTS emag_productsearch_products_inserted()",
    "DROP FUNCTION IF EXISTS emag_productsearch_products_updated()",
    f"DROP TABLE IF EXISTS {TABLE}",
    *(
        f'CREATE INDEX IF NOT EXISTS "{name}" ON "emag_product" USING gin ((UPPER("{column}"::text)) gin_trgm_ops) '
        "WITH (gin_pending_list_limit = 256)"
        for name, column in PRODUCT_TRIGRAM_INDEXES.items()
    ),
]

SQLITE = [
    f"""CREATE TABLE {TABLE} (
        product_id integer NOT NULL PRIMARY KEY REFERENCES emag_product (id) ON DELETE CASCADE,
        text text NOT NULL
    )""",
    # No INSERT OR REPLACE: a trigger's statements take the conflict policy of the statement that fired
    # it, and the sync's upsert (INSERT ... ON CONFLICT DO UPDATE) fires the UPDATE trigger.
    f"""CREATE TRIGGER emag_productsearch_product_inserted AFTER INSERT ON emag_product BEGIN
        INSERT INTO {TABLE} (product_id, text) VALUES (NEW.id, {text("NEW", SQLITE_NEWLINE)});
    END""",
    f"""CREATE TRIGGER emag_productsearch_product_updated AFTER UPDATE OF {", ".join(FIELDS)} ON emag_product
    WHEN {changed("NEW", "OLD", "IS NOT")} BEGIN
        UPDATE {TABLE} SET text = {text("NEW", SQLITE_NEWLINE)} WHERE product_id = NEW.id;
    END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS emag_productsearch_product_inserted",
    "DROP TRIGGER IF EXISTS emag_productsearch_product_updated",
    f"DROP TABLE IF EXISTS {TABLE}",
]

# Migration 0008's offer search table, dropped here and made again when migrating back.
offer_search = importlib.import_module("emag.migrations.0008_offer_search")


def create(apps, schema_editor) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    offer_search.drop(apps, schema_editor)
    if postgresql:
        # 0008 restores the offers' PNK trigram index when it drops its table: the PNK is searched here.
        schema_editor.execute('DROP INDEX IF EXISTS "offer_pnk_trgm_idx"', params=None)
    for statement in POSTGRESQL if postgresql else SQLITE:
        schema_editor.execute(statement, params=None)
    newline = POSTGRESQL_NEWLINE if postgresql else SQLITE_NEWLINE
    schema_editor.execute(
        f"INSERT INTO {TABLE} (product_id, text) SELECT p.id, {text('p', newline)} FROM emag_product p ORDER BY p.id", params=None
    )


def drop(apps, schema_editor) -> None:
    for statement in POSTGRESQL_REVERSE if schema_editor.connection.vendor == "postgresql" else SQLITE_REVERSE:
        schema_editor.execute(statement, params=None)
    offer_search.create(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("emag", "0008_offer_search"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="OfferSearch"),
                migrations.CreateModel(
                    name="ProductSearch",
                    fields=[
                        (
                            "product",
                            models.OneToOneField(
                                db_constraint=False,
                                on_delete=models.DO_NOTHING,
                                primary_key=True,
                                related_name="+",
                                serialize=False,
                                to="emag.product",
                            ),
                        ),
                        ("text", models.TextField()),
                    ],
                    options={"db_table": TABLE},
                ),
            ],
            database_operations=[migrations.RunPython(create, drop, elidable=False)],
        ),
    ]
