"""What an offer search looks in, as one row per offer that the database itself keeps current.

A search term may be in the product's name, SKU or EAN, or in the offer's PNK. Asked of two tables,
that is an OR PostgreSQL can only answer by finding every matching product first and then walking
the offers (or, for a rare term, through a separate lookup of the products): ~5 ms of its time and
two queries per search at 100,000 offers, the costliest part of the API's search. `emag_offersearch`
holds those four texts of each offer in one column, with one trigram index: a search is one
`id IN (SELECT offer_id ...)`, which PostgreSQL plans on its own for rare and common terms alike.

Triggers keep it current whoever writes (the sync's COPY and upserts, the admin, a shell):
- offers inserted: their rows are added; offers updated: the rows of those whose PNK or product
  changed are rewritten;
- products updated: the rows of their offers, on every account, when a name, SKU or EAN changed;
- offers deleted: their rows go with them (ON DELETE CASCADE).
PostgreSQL's triggers run once per statement over its transition tables, so a page of 100 offers
costs one set-based INSERT, not 100 calls. SQLite (the demo) has row triggers and no trigram index.

On SQLite, a later migration that rebuilds emag_offer or emag_product (Django copies a table to
alter it) drops their triggers: such a migration must run the SQLITE trigger statements again. The
tests that rename a product or change a PNK and then search for the new text would fail.

The texts are joined by a newline, which a search term cannot contain: DRF and the admin split
terms on whitespace, and a quoted phrase holding one is searched field by field
(selectors.search_offers).
"""

from django.db import migrations, models

TABLE = "emag_offersearch"


def text(product: str, pnk: str, newline: str) -> str:
    """SQL for an offer's search text: `product`, the alias of its product's row; `pnk`, its PNK."""
    lines = [f"{product}.name", f"{product}.sku", f"{product}.ean_text", pnk]
    return f"UPPER({f' || {newline} || '.join(lines)})"


def postgresql_text(product: str, pnk: str) -> str:
    return text(product, pnk, "E'\\n'")


def sqlite_text(product: str, pnk: str) -> str:
    return text(product, pnk, "char(10)")


POSTGRESQL = [
    f"""CREATE TABLE {TABLE} (
        offer_id bigint PRIMARY KEY REFERENCES emag_offer (id) ON DELETE CASCADE,
        text text NOT NULL
    )""",
    # A small pending list, as for the other trigram indexes (migration 0006).
    f"""CREATE INDEX offer_search_trgm_idx ON {TABLE} USING gin (text gin_trgm_ops)
        WITH (gin_pending_list_limit = 256)""",
    f"""CREATE FUNCTION emag_offersearch_offers_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {TABLE} (offer_id, text)
        SELECT o.id, {postgresql_text("p", "o.part_number_key")}
        FROM new_offers o JOIN emag_product p ON p.id = o.product_id;
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION emag_offersearch_offers_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {TABLE} s
        SET text = {postgresql_text("p", "n.part_number_key")}
        FROM new_offers n JOIN old_offers o ON o.id = n.id JOIN emag_product p ON p.id = n.product_id
        WHERE s.offer_id = n.id
          AND (n.part_number_key IS DISTINCT FROM o.part_number_key OR n.product_id IS DISTINCT FROM o.product_id);
        RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION emag_offersearch_products_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {TABLE} s
        SET text = {postgresql_text("n", "f.part_number_key")}
        FROM new_products n JOIN old_products o ON o.id = n.id JOIN emag_offer f ON f.product_id = n.id
        WHERE s.offer_id = f.id
          AND (n.name IS DISTINCT FROM o.name OR n.sku IS DISTINCT FROM o.sku OR n.ean_text IS DISTINCT FROM o.ean_text);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER emag_offersearch_offers_inserted AFTER INSERT ON emag_offer
        REFERENCING NEW TABLE AS new_offers FOR EACH STATEMENT EXECUTE FUNCTION emag_offersearch_offers_inserted()""",
    """CREATE TRIGGER emag_offersearch_offers_updated AFTER UPDATE ON emag_offer
        REFERENCING OLD TABLE AS old_offers NEW TABLE AS new_offers
        FOR EACH STATEMENT EXECUTE FUNCTION emag_offersearch_offers_updated()""",
    """CREATE TRIGGER emag_offersearch_products_updated AFTER UPDATE ON emag_product
        REFERENCING OLD TABLE AS old_products NEW TABLE AS new_products
        FOR EACH STATEMENT EXECUTE FUNCTION emag_offersearch_products_updated()""",
    # The PNK is searched here now; its own trigram index (migration 0004) only cost the sync.
    'DROP INDEX IF EXISTS "offer_pnk_trgm_idx"',
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS emag_offersearch_offers_inserted ON emag_offer",
    "DROP TRIGGER IF EXISTS emag_offersearch_offers_updated ON emag_offer",
    "DROP TRIGGER IF EXISTS emag_offersearch_products_updated ON emag_product",
    "DROP FUNCTION IF EXISTS emag_offersearch_offers_inserted()",
    "DROP FUNCTION IF EXISTS emag_offersearch_offers_updated()",
    "DROP FUNCTION IF EXISTS emag_offersearch_products_updated()",
    f"DROP TABLE IF EXISTS {TABLE}",
    """CREATE INDEX IF NOT EXISTS "offer_pnk_trgm_idx" ON "emag_offer" USING gin ((UPPER("part_number_key"::text))
        gin_trgm_ops) WITH (gin_pending_list_limit = 256)""",
]

OFFER_TEXT = sqlite_text("p", "NEW.part_number_key")
SQLITE = [
    f"""CREATE TABLE {TABLE} (
        offer_id integer NOT NULL PRIMARY KEY REFERENCES emag_offer (id) ON DELETE CASCADE,
        text text NOT NULL
    )""",
    # No INSERT OR REPLACE: a trigger's statements take the conflict policy of the statement that fired
    # it, and the sync's upsert (INSERT ... ON CONFLICT DO UPDATE) fires the UPDATE trigger.
    f"""CREATE TRIGGER emag_offersearch_offer_inserted AFTER INSERT ON emag_offer BEGIN
        INSERT INTO {TABLE} (offer_id, text)
        SELECT NEW.id, {OFFER_TEXT} FROM emag_product p WHERE p.id = NEW.product_id;
    END""",
    f"""CREATE TRIGGER emag_offersearch_offer_updated AFTER UPDATE OF part_number_key, product_id ON emag_offer
    WHEN NEW.part_number_key IS NOT OLD.part_number_key OR NEW.product_id IS NOT OLD.product_id BEGIN
        UPDATE {TABLE} SET text = (SELECT {OFFER_TEXT} FROM emag_product p WHERE p.id = NEW.product_id)
        WHERE offer_id = NEW.id;
    END""",
    f"""CREATE TRIGGER emag_offersearch_product_updated AFTER UPDATE OF name, sku, ean_text ON emag_product
    WHEN NEW.name IS NOT OLD.name OR NEW.sku IS NOT OLD.sku OR NEW.ean_text IS NOT OLD.ean_text BEGIN
        UPDATE {TABLE}
        SET text = {sqlite_text("NEW", f"(SELECT f.part_number_key FROM emag_offer f WHERE f.id = {TABLE}.offer_id)")}
        WHERE offer_id IN (SELECT f.id FROM emag_offer f WHERE f.product_id = NEW.id);
    END""",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS emag_offersearch_offer_inserted",
    "DROP TRIGGER IF EXISTS emag_offersearch_offer_updated",
    "DROP TRIGGER IF EXISTS emag_offersearch_product_updated",
    f"DROP TABLE IF EXISTS {TABLE}",
]


def create(apps, schema_editor) -> None:
    postgresql = schema_editor.connection.vendor == "postgresql"
    for statement in POSTGRESQL if postgresql else SQLITE:
        schema_editor.execute(statement, params=None)
    offer_text = (postgresql_text if postgresql else sqlite_text)("p", "o.part_number_key")
    schema_editor.execute(
        f"INSERT INTO {TABLE} (offer_id, text) SELECT o.id, {offer_text} "
        "FROM emag_offer o JOIN emag_product p ON p.id = o.product_id",
        params=None,
    )


def drop(apps, schema_editor) -> None:
    for statement in POSTGRESQL_REVERSE if schema_editor.connection.vendor == "postgresql" else SQLITE_REVERSE:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("emag", "0007_fewer_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OfferSearch",
                    fields=[
                        (
                            "offer",
                            models.OneToOneField(
                                db_constraint=False,
                                on_delete=models.DO_NOTHING,
                                primary_key=True,
                                related_name="+",
                                serialize=False,
                                to="emag.offer",
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
