from django.urls import path

from accounts import views

app_name = "auth"

urlpatterns = [
    path("login", views.LoginView.as_view(), name="login"),
    path("refresh", views.RefreshView.as_view(), name="refresh"),
    # The path the system we replace used; its clients still call it.
    path("refresh-token", views.RefreshView.as_view(), name="refresh-token"),
    path("logout", views.LogoutView.as_view(), name="logout"),
    path("me", views.MeView.as_view(), name="me"),
]
