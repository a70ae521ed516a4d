"""The staff back-office: seller accounts, offers, products and sync runs.

Everything eMAG owns (offers, products, runs) is read-only here; staff act through the actions
(test a connection, sync now, cancel a run), which call the same services as the API.
"""

from django.contrib import admin

from emag.admin.accounts import SellerAccountAdmin, SellerAccountForm
from emag.admin.common import EstimatedCountPaginator, ReadOnlyAdmin
from emag.admin.offers import OfferAdmin
from emag.admin.products import ProductAdmin
from emag.admin.runs import ApiCallAdmin, SyncErrorAdmin, SyncRunAdmin

admin.site.site_header = "MagFlow back-office"
admin.site.site_title = "MagFlow"
admin.site.index_title = "Dashboard"

__all__ = [
    "ApiCallAdmin",
    "EstimatedCountPaginator",
    "OfferAdmin",
    "ProductAdmin",
    "ReadOnlyAdmin",
    "SellerAccountAdmin",
    "SellerAccountForm",
    "SyncErrorAdmin",
    "SyncRunAdmin",
]
