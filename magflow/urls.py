from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/auth/", include("accounts.urls")),
    path("api/v1/emag/", include("emag.api.urls")),
    path("", include("monitoring.urls")),
]
