"""The sync's bulk write path (COPY in text format on PostgreSQL, bulk_create elsewhere) keeps every character."""

import pytest

from emag import sync as sync_module
from emag.models import Offer, Product, SyncRun
from emag.sync import sync_offers

pytestmark = pytest.mark.django_db

AWKWARD = 'tab\there, new\nline, cr\rhere, back\\slash, \\N, \\., quote " and ș ț 🙂'


@pytest.fixture(autouse=True)
def no_rate_limit(settings, sandbox):
    settings.EMAG_RATE_LIMIT_ENABLED = False
    sandbox.set_rate_limit(False)


class AwkwardClient(sync_module.EmagClient):
    """A real client whose records carry text that COPY's text format must escape."""

    def read_offers(self, page=1, per_page=100, **filters):
        records = super().read_offers(page=page, per_page=per_page, **filters)
        for record in records:
            record["name"] = AWKWARD[:200]
            record["description"] = AWKWARD * 3
            record["brand"] = "\\"
            record["doc_errors"] = [AWKWARD]
        return records


def test_it_stores_text_with_tabs_newlines_and_backslashes_exactly(account, sandbox):
    run = sync_offers(account, client=AwkwardClient(account, sleep=lambda seconds: None))

    assert run.status == SyncRun.Status.COMPLETED
    assert run.created == 250
    product = Product.objects.get(sku=sandbox.catalogue("main")[0]["part_number"])
    assert product.name == AWKWARD[:200]
    assert product.description == AWKWARD * 3
    assert product.brand == "\\"
    offer = Offer.objects.filter(account=account).first()
    assert offer.raw["description"] == AWKWARD * 3
    assert offer.raw["doc_errors"] == [AWKWARD]
    assert offer.doc_errors == [AWKWARD]


def test_a_second_run_over_the_same_awkward_text_finds_every_offer_unchanged(account, sandbox):
    client = AwkwardClient(account, sleep=lambda seconds: None)
    sync_offers(account, client=client)

    again = sync_offers(account, client=AwkwardClient(account, sleep=lambda seconds: None))

    assert (again.created, again.updated, again.unchanged) == (0, 0, 250)


def test_a_first_sync_copies_new_offers_straight_in_and_falls_back_if_one_exists_after_all(
    account, sandbox, monkeypatch
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's")
    original = sync_module._copy_upsert
    seen = []

    def copy_upsert(model, columns, rows, **kwargs):
        seen.append((model.__name__, kwargs.get("direct", False)))
        if model is Offer and kwargs.get("direct") and len(seen) == 2:
            # Someone stored one of the page's offers between the page's read of the table and its write.
            product = Product.objects.get(pk=rows[0][columns.index("product_id")])
            Offer.objects.create(account=account, emag_id=rows[0][columns.index("emag_id")], product=product)
        return original(model, columns, rows, **kwargs)

    monkeypatch.setattr(sync_module, "_copy_upsert", copy_upsert)

    run = sync_offers(account, client=sync_module.EmagClient(account, sleep=lambda seconds: None))

    assert ("Offer", True) in seen  # new offers went straight in
    assert run.status == SyncRun.Status.COMPLETED
    assert (run.created, run.updated, run.rejected) == (250, 0, 0)
    assert Offer.objects.filter(account=account).count() == 250
    assert all(offer.raw for offer in Offer.objects.filter(account=account))


def test_the_raw_records_are_compressed_with_lz4_where_postgresql_offers_it(account, sandbox):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("column compression is a PostgreSQL setting")
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        if not cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL was built without LZ4")
    sync_offers(account, client=AwkwardClient(account, sleep=lambda seconds: None))

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attcompression FROM pg_attribute WHERE attrelid = 'emag_offer'::regclass AND attname = 'raw'"
        )
        assert cursor.fetchone()[0] == "l"
        cursor.execute("SELECT count(*), count(*) FILTER (WHERE pg_column_compression(raw) = 'lz4') FROM emag_offer")
        stored, in_lz4 = cursor.fetchone()
    assert stored == 250
    assert in_lz4 == stored  # every raw record (3 copies of the description: past the 2 KB threshold)
    assert Offer.objects.filter(account=account).first().raw["description"] == AWKWARD * 3


def test_the_trigram_index_keeps_a_small_pending_list(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the trigram index is PostgreSQL only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, c.reloptions FROM pg_class c WHERE c.relname LIKE %s ORDER BY c.relname", ["%_trgm_idx"]
        )
        options = dict(cursor.fetchall())
    assert set(options) == {"product_search_trgm_idx"}  # the one the searches use (migration 0009)
    assert all(value == ["gin_pending_list_limit=256"] for value in options.values()), options
