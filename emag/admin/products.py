"""Products, with their offer on each account side by side."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from emag import selectors
from emag.admin.common import EstimatedCountPaginator, ReadOnlyAdmin, format_when, or_dash, search_terms
from emag.models import Product

OFFER_COMPARISON_ROWS = [
    ("eMAG id", lambda offer: offer.emag_id),
    ("Price", lambda offer: f"{offer.sale_price:.2f} {offer.currency}" if offer.sale_price is not None else "—"),
    ("Stock", lambda offer: offer.stock_total),
    ("Status", lambda offer: offer.get_status_display()),
    ("Sellable", lambda offer: "yes" if offer.is_sellable else "no"),
    ("Validation", lambda offer: offer.validation_status_description or or_dash(offer.validation_status)),
    (
        "Offer validation",
        lambda offer: offer.offer_validation_status_description or or_dash(offer.offer_validation_status),
    ),
    ("Buy-button rank", lambda offer: or_dash(offer.buy_button_rank)),
    ("Sellers on the product", lambda offer: or_dash(offer.number_of_offers)),
    ("On eMAG", lambda offer: "yes" if offer.is_present else "no (gone at the last full sync)"),
    ("Last changed", lambda offer: format_when(offer.last_changed_at)),
]


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ["sku", "name", "brand", "part_number_key", "updated_at"]
    search_fields = list(selectors.PRODUCT_SEARCH_FIELDS)  # what get_search_results searches
    search_help_text = "SKU, name, EAN or PNK."
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50
    fieldsets = [
        (None, {"fields": ["sku", "name", "brand", "part_number_key", "ean_text", "category_id", "warranty", "url"]}),
        ("Offers on each account", {"fields": ["offers_side_by_side"]}),
        ("Content", {"fields": ["description", "images", "characteristics", "family"], "classes": ["collapse"]}),
    ]
    readonly_fields = ["offers_side_by_side"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        # Django's own terms and rows, found through the product search table (selectors.search_products)
        # instead of Django's LIKE over every product.
        return selectors.search_products(queryset, search_terms(search_term)), False

    @admin.display(description="Side by side")
    def offers_side_by_side(self, obj: Product) -> SafeString | str:
        offers = list(obj.offers.select_related("account").order_by("account__name"))
        if not offers:
            return "No offer on any account"
        header = format_html_join(
            "",
            '<th><a href="{}">{}</a> <small>{}</small></th>',
            (
                (
                    reverse("admin:emag_offer_change", args=[offer.pk]),
                    offer.account.name,
                    offer.account.get_kind_display(),
                )
                for offer in offers
            ),
        )
        body = format_html_join(
            "",
            "<tr><th>{}</th>{}</tr>",
            (
                (label, format_html_join("", "<td>{}</td>", ((read(offer),) for offer in offers)))
                for label, read in OFFER_COMPARISON_ROWS
            ),
        )
        return format_html(
            '<table class="mf-table mf-compare"><thead><tr><th></th>{}</tr></thead><tbody>{}</tbody></table>',
            header,
            body,
        )
