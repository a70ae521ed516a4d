from django.urls import path
from rest_framework.routers import SimpleRouter

from emag.api import legacy, views

router = SimpleRouter(use_regex_path=False)
router.register("accounts", views.SellerAccountViewSet, basename="account")
router.register("products", views.ProductViewSet, basename="product")
router.register("offers", views.OfferViewSet, basename="offer")
router.register("sync-runs", views.SyncRunViewSet, basename="syncrun")

urlpatterns = [
    *router.urls,
    # The paths the clients of the system we replace call.
    path("enhanced/products/all", legacy.LegacyProductsView.as_view(), name="legacy-products"),
    path("enhanced/offers/all", legacy.LegacyOffersView.as_view(), name="legacy-offers"),
    path("enhanced/status", legacy.LegacyStatusView.as_view(), name="legacy-status"),
    path("enhanced/sync/all-products", legacy.LegacySyncAllProductsView.as_view(), name="legacy-sync-all-products"),
]
