import re

CHANGELIST = "/admin/emag/product/"


def test_it_shows_the_product_with_its_offer_on_each_account_side_by_side(login, viewer, offers):
    product = offers["lamp"].product

    text = login(viewer).get(f"{CHANGELIST}{product.pk}/change/").text

    table = re.search(r'<table class="mf-table mf-compare">.*?</table>', text, re.S).group(0)
    assert re.findall(r"<th><a [^>]+>(\w+)</a>", table) == ["fbe", "main"]
    assert "<tr><th>eMAG id</th><td>20042</td><td>10042</td></tr>" in table
    assert "<tr><th>Stock</th><td>3</td><td>10</td></tr>" in table
    assert "<tr><th>Buy-button rank</th><td>2</td><td>1</td></tr>" in table


def test_a_product_without_offers_says_so(login, viewer, offers):
    from emag.models import Product

    product = Product.objects.create(sku="LONE-1", name="Singur")

    assert "No offer on any account" in login(viewer).get(f"{CHANGELIST}{product.pk}/change/").text


def test_products_are_searchable_by_sku_name_ean_and_pnk(login, viewer, offers):
    client = login(viewer)

    for term in ("LMP-042", "lampa", "5941234567890", "D33HD4MBM"):
        results = client.get(CHANGELIST, {"q": term}).context["cl"].result_list
        assert [p.sku for p in results] == ["LMP-042"], term


def test_the_product_and_offer_searches_read_the_product_search_table(login, viewer, offers):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = login(viewer)
    for changelist in (CHANGELIST, "/admin/emag/offer/"):
        with CaptureQueriesContext(connection) as captured:
            results = client.get(changelist, {"q": "lampa"}).context["cl"].result_list

        assert results, changelist
        # Not Django's own LIKE over every row (selectors.search_products, selectors.search_offers).
        assert any("emag_productsearch" in query["sql"] for query in captured.captured_queries), changelist


def test_products_are_read_only(login, admin_user, offers):
    product = offers["lamp"].product

    response = login(admin_user).post(f"{CHANGELIST}{product.pk}/change/", {"name": "x"})

    assert response.status_code == 403
