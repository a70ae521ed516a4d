from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/auth/", include("accounts.urls")),
    path("api/v1/emag/", include("emag.api.urls")),
    path("", include("monitoring.urls")),
]

# The API schema and its two readers (for logged-in users, like the rest of the API).
urlpatterns += [
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

# JSON errors for /api/ paths, Django's pages elsewhere.
handler400 = "magflow.exceptions.bad_request"
handler403 = "magflow.exceptions.permission_denied"
handler404 = "magflow.exceptions.page_not_found"
handler500 = "magflow.exceptions.server_error"
