"""The text a search of offers or products looks in (ProductSearch) follows every write, whoever makes it: the
database keeps it."""

import pytest
from django.db.models import F, TextField, Value
from django.db.models.functions import Concat, Upper

from emag import selectors
from emag import sync as sync_module
from emag.models import Offer, Product, ProductSearch, SyncRun
from emag.sync import sync_offers
from tests.api.conftest import make_offer

pytestmark = pytest.mark.django_db


def found(term: str) -> list[str]:
    offers = selectors.search_offers(Offer.objects.all(), [term]).select_related("account", "product")
    return sorted(f"{offer.product.sku}@{offer.account.name}" for offer in offers)


def products_found(term: str) -> list[str]:
    return sorted(selectors.search_products(Product.objects.all(), [term]).values_list("sku", flat=True))


def text_of(product: Product) -> str:
    return ProductSearch.objects.get(product=product).text


def test_a_new_offer_is_found_by_its_products_name_sku_ean_and_pnk(account):
    offer = make_offer(account, "LMP-1", name="Lampa de birou", ean="5940000000017", part_number_key="DLMPBM")

    assert text_of(offer.product) == "LAMPA DE BIROU\nLMP-1\n5940000000017\nDLMPBM"
    for term in ["birou", "LAMPA", "lmp-1", "0000000017", "dlmp"]:
        assert found(term) == ["LMP-1@main"], term
        assert products_found(term) == ["LMP-1"], term
    assert found("nothing") == products_found("nothing") == []


def test_a_product_without_offers_is_found_by_the_products_search_only(account):
    Product.objects.create(sku="CAN-2", name="Cana")

    assert products_found("cana") == ["CAN-2"]
    assert found("cana") == []


def test_renaming_a_product_changes_what_finds_its_offers_on_every_account(account, other_account):
    make_offer(account, "LMP-1", name="Lampa")
    make_offer(other_account, "LMP-1")  # the same product, on FBE

    Product.objects.filter(sku="LMP-1").update(name="Veioza", ean_text="5940000000024")

    assert found("lampa") == products_found("lampa") == []
    assert found("veioza") == found("0000000024") == ["LMP-1@fbe", "LMP-1@main"]
    assert products_found("veioza") == ["LMP-1"]


def test_a_product_saved_through_the_orm_is_found_by_its_new_sku_and_pnk(account):
    offer = make_offer(account, "LMP-1", name="Lampa", part_number_key="DOLDPNK")
    product = offer.product
    product.sku = "LMP-2"
    product.part_number_key = "DNEWPNK"
    product.save()

    assert found("lmp-1") == found("doldpnk") == []
    assert found("lmp-2") == found("dnewpnk") == ["LMP-2@main"]


def test_an_offer_moved_to_another_product_is_found_by_that_products_texts(account):
    offer = make_offer(account, "LMP-1", name="Lampa")
    make_offer(account, "CAN-2", name="Cana").delete()  # leaves the product CAN-2 without an offer

    offer.product = Product.objects.get(sku="CAN-2")
    offer.save()

    assert (found("lampa"), found("cana")) == ([], ["CAN-2@main"])


def test_changes_outside_the_four_texts_leave_the_search_text_alone(account):
    offer = make_offer(account, "LMP-1", name="Lampa")
    before = text_of(offer.product)

    Offer.objects.filter(pk=offer.pk).update(sale_price=12, stock_total=0)
    Product.objects.filter(pk=offer.product_id).update(brand="Philips", description="A lamp")

    assert text_of(offer.product) == before


def test_a_deleted_product_takes_its_search_text_with_it(account):
    kept = Product.objects.create(sku="LMP-1", name="Lampa")
    Product.objects.create(sku="LMP-2", name="Lampa mare").delete()

    assert list(ProductSearch.objects.values_list("product_id", flat=True)) == [kept.pk]
    assert products_found("lampa") == ["LMP-1"]


def test_products_created_in_bulk_are_searchable(account):
    products = Product.objects.bulk_create(Product(sku=f"LMP-{n}", name="Lampa") for n in range(1, 6))
    Offer.objects.bulk_create(
        Offer(account=account, product=product, emag_id=n, content_hash="x") for n, product in enumerate(products)
    )

    assert ProductSearch.objects.count() == 5
    assert found("lmp-3") == ["LMP-3@main"]
    assert len(selectors.search_offers(Offer.objects.all(), ["lampa"])) == 5


def test_a_quoted_phrase_with_a_newline_does_not_match_across_two_fields(account):
    make_offer(account, "LMP-1", name="Lampa")  # its product's text is "LAMPA\nLMP-1\n\n"

    assert found("lampa\nlmp") == products_found("lampa\nlmp") == []  # Django's search: no field holds it
    assert found("lampa") == ["LMP-1@main"]


class RenamingClient(sync_module.EmagClient):
    """A real client that reads every product of the catalogue under a new name."""

    def read_offers(self, page=1, per_page=100, **filters):
        records = super().read_offers(page=page, per_page=per_page, **filters)
        for record in records:
            record["name"] = f"Renamed {record['part_number']}"
        return records


def test_a_sync_leaves_every_product_searchable_and_a_rename_found_on_both_accounts(
    account, other_account, sandbox, settings
):
    settings.EMAG_RATE_LIMIT_ENABLED = False
    sandbox.set_rate_limit(False)
    sync_offers(account, client=sync_module.EmagClient(account, sleep=lambda seconds: None))
    sync_offers(other_account, client=sync_module.EmagClient(other_account, sleep=lambda seconds: None))
    fields = selectors.PRODUCT_SEARCH_FIELDS
    lines = Concat(*[part for field in fields for part in (field, Value("\n"))][:-1], output_field=TextField())
    expected = dict(Product.objects.annotate(text=Upper(lines)).values_list("pk", "text"))  # the database's UPPER
    assert 300 < len(expected) < 500  # the products of 500 offers, some of them on both accounts
    assert dict(ProductSearch.objects.values_list("product_id", "text")) == expected
    # An offer's PNK is its product's: both come from the same record.
    assert not Offer.objects.exclude(part_number_key=F("product__part_number_key")).exists()
    shared = Product.objects.filter(offers__account=account).filter(offers__account=other_account).first()

    run = sync_offers(account, client=RenamingClient(account, sleep=lambda seconds: None))

    assert run.status == SyncRun.Status.COMPLETED
    assert found(f"renamed {shared.sku}") == [f"{shared.sku}@fbe", f"{shared.sku}@main"]
    assert products_found(f"renamed {shared.sku}") == [shared.sku]


def test_postgresql_connections_plan_without_memoize(db):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL planner setting")
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_memoize")
        # Its cache misses on every probe of a search's walk (settings.py says why).
        assert cursor.fetchone() == ("off",)
