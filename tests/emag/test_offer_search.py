"""The text an offer search looks in (OfferSearch) follows every write, whoever makes it: the database keeps it."""

import pytest
from django.db.models import TextField, Value
from django.db.models.functions import Concat, Upper

from emag import selectors
from emag import sync as sync_module
from emag.models import Offer, OfferSearch, Product, SyncRun
from emag.sync import sync_offers
from tests.api.conftest import make_offer

pytestmark = pytest.mark.django_db

LINES = ["product__name", "product__sku", "product__ean_text", "part_number_key"]


def found(term: str) -> list[str]:
    offers = selectors.search_offers(Offer.objects.all(), [term]).select_related("account", "product")
    return sorted(f"{offer.product.sku}@{offer.account.name}" for offer in offers)


def text_of(offer: Offer) -> str:
    return OfferSearch.objects.get(offer=offer).text


def test_a_new_offer_is_found_by_its_name_sku_ean_and_pnk(account):
    offer = make_offer(account, "LMP-1", name="Lampa de birou", ean="5940000000017", part_number_key="DLMPBM")

    assert text_of(offer) == "LAMPA DE BIROU\nLMP-1\n5940000000017\nDLMPBM"
    for term in ["birou", "LAMPA", "lmp-1", "0000000017", "dlmp"]:
        assert found(term) == ["LMP-1@main"], term
    assert found("nothing") == []


def test_renaming_a_product_changes_what_finds_its_offers_on_every_account(account, other_account):
    make_offer(account, "LMP-1", name="Lampa")
    make_offer(other_account, "LMP-1")  # the same product, on FBE

    Product.objects.filter(sku="LMP-1").update(name="Veioza", ean_text="5940000000024")

    assert found("lampa") == []
    assert found("veioza") == found("0000000024") == ["LMP-1@fbe", "LMP-1@main"]


def test_a_product_saved_through_the_orm_is_found_by_its_new_sku(account):
    offer = make_offer(account, "LMP-1", name="Lampa")
    product = offer.product
    product.sku = "LMP-2"
    product.save()

    assert found("lmp-1") == []
    assert found("lmp-2") == ["LMP-2@main"]


def test_changing_an_offers_pnk_or_product_changes_what_finds_it(account):
    offer = make_offer(account, "LMP-1", name="Lampa", part_number_key="DOLDPNK")
    make_offer(account, "CAN-2", name="Cana").delete()  # leaves the product CAN-2 without an offer

    Offer.objects.filter(pk=offer.pk).update(part_number_key="DNEWPNK")
    assert (found("doldpnk"), found("dnewpnk")) == ([], ["LMP-1@main"])

    offer.refresh_from_db()
    offer.product = Product.objects.get(sku="CAN-2")
    offer.save()
    assert (found("lampa"), found("cana")) == ([], ["CAN-2@main"])
    assert text_of(offer) == "CANA\nCAN-2\n\nDNEWPNK"


def test_a_price_change_leaves_the_search_text_alone(account):
    offer = make_offer(account, "LMP-1", name="Lampa")
    before = text_of(offer)

    Offer.objects.filter(pk=offer.pk).update(sale_price=12, stock_total=0)

    assert text_of(offer) == before


def test_a_deleted_offer_takes_its_search_text_with_it(account):
    kept = make_offer(account, "LMP-1", name="Lampa")
    gone = make_offer(account, "LMP-2", name="Lampa mare")

    Offer.objects.filter(pk=gone.pk).delete()

    assert list(OfferSearch.objects.values_list("offer_id", flat=True)) == [kept.pk]
    assert found("lampa") == ["LMP-1@main"]


def test_offers_created_in_bulk_are_searchable(account):
    product = Product.objects.create(sku="LMP-1", name="Lampa")
    Offer.objects.bulk_create(
        Offer(account=account, product=product, emag_id=emag_id, content_hash="x", part_number_key=f"DPNK{emag_id}")
        for emag_id in range(1, 6)
    )

    assert OfferSearch.objects.count() == 5
    assert found("dpnk3") == ["LMP-1@main"]
    assert len(selectors.search_offers(Offer.objects.all(), ["lampa"])) == 5


def test_a_quoted_phrase_with_a_newline_does_not_match_across_two_fields(account):
    make_offer(account, "LMP-1", name="Lampa")  # its text is "LAMPA\nLMP-1\n\n"

    assert found("lampa\nlmp") == []  # Django's search: no field holds it
    assert found("lampa") == ["LMP-1@main"]


class RenamingClient(sync_module.EmagClient):
    """A real client that reads every product of the catalogue under a new name."""

    def read_offers(self, page=1, per_page=100, **filters):
        records = super().read_offers(page=page, per_page=per_page, **filters)
        for record in records:
            record["name"] = f"Renamed {record['part_number']}"
        return records


def test_a_sync_leaves_every_offer_searchable_and_a_rename_found_on_both_accounts(
    account, other_account, sandbox, settings
):
    settings.EMAG_RATE_LIMIT_ENABLED = False
    sandbox.set_rate_limit(False)
    sync_offers(account, client=sync_module.EmagClient(account, sleep=lambda seconds: None))
    sync_offers(other_account, client=sync_module.EmagClient(other_account, sleep=lambda seconds: None))
    lines = Concat(*[part for field in LINES for part in (field, Value("\n"))][:-1], output_field=TextField())
    expected = dict(Offer.objects.annotate(text=Upper(lines)).values_list("pk", "text"))  # the database's UPPER
    assert len(expected) == 500
    assert dict(OfferSearch.objects.values_list("offer_id", "text")) == expected
    shared = Product.objects.filter(offers__account=account).filter(offers__account=other_account).first()

    run = sync_offers(account, client=RenamingClient(account, sleep=lambda seconds: None))

    assert run.status == SyncRun.Status.COMPLETED
    assert found(f"renamed {shared.sku}") == [f"{shared.sku}@fbe", f"{shared.sku}@main"]
