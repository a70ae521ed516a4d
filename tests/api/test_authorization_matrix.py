"""Every URL of the URL configuration × anonymous, viewer, operator, admin → the expected status.

The table below names every URL pattern outside /admin/ with every HTTP method its view answers.
A new endpoint (or a new method on one) that is not in the table fails
`test_the_matrix_covers_every_url_pattern_and_method`, so whoever adds it must decide who may
call it. Admin pages follow one rule instead of a table: anonymous visitors are sent to the login
page, and staff see a model's pages only with a permission on that model.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib import admin
from django.core.cache import cache
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.api.conftest import make_offer, make_run

ROLES = ("anonymous", "viewer", "operator", "admin")
PASSWORD = "a-Long-test-passw0rd"


def expect(anonymous: int, viewer: int, operator: int, admin_: int) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, viewer, operator, admin_), strict=True))


PUBLIC = expect(200, 200, 200, 200)
READ = expect(401, 200, 200, 200)  # every role reads
OPERATE = expect(401, 403, 202, 202)  # operators and admins start or cancel syncs
ADMIN_ONLY = expect(401, 403, 403, 200)


def login_body(world, role):
    if role == "anonymous":
        return {"username": "nobody@example.com", "password": "wrong-password"}
    return {"username": world["users"][role].email, "password": PASSWORD}


def refresh_body(world, role):
    if role == "anonymous":
        return {"refresh_token": "not-a-token"}
    return {"refresh_token": str(RefreshToken.for_user(world["users"][role]))}


NEW_ACCOUNT = {"name": "ro2", "kind": "main", "platform": "ro", "username": "seller@example.com", "password": "s3cret"}
FULL_ACCOUNT = {"name": "main", "kind": "main", "platform": "custom", "base_url": "https://sandbox.emag.test/api-3"}


@dataclass
class Case:
    url: str
    expected: dict[str, int]
    body: Any = None  # a dict, or a callable (world, role) -> dict
    notes: str = ""
    extra: dict = field(default_factory=dict)


# (URL pattern, method) -> Case. URL placeholders are filled from the `world` fixture.
MATRIX: dict[tuple[str, str], Case] = {
    # Authentication: login and refresh are public (a wrong password or token is a 401).
    ("api/v1/auth/login", "POST"): Case("/api/v1/auth/login", expect(401, 200, 200, 200), login_body),
    ("api/v1/auth/refresh", "POST"): Case("/api/v1/auth/refresh", expect(401, 200, 200, 200), refresh_body),
    ("api/v1/auth/refresh-token", "POST"): Case("/api/v1/auth/refresh-token", expect(401, 200, 200, 200), refresh_body),
    ("api/v1/auth/logout", "POST"): Case("/api/v1/auth/logout", expect(401, 204, 204, 204), refresh_body),
    ("api/v1/auth/me", "GET"): Case("/api/v1/auth/me", READ),
    # Seller accounts: everyone reads, operators test, admins manage.
    ("api/v1/emag/accounts/", "GET"): Case("/api/v1/emag/accounts/", READ),
    ("api/v1/emag/accounts/", "POST"): Case("/api/v1/emag/accounts/", expect(401, 403, 403, 201), NEW_ACCOUNT),
    ("api/v1/emag/accounts/<slug:name>/", "GET"): Case("/api/v1/emag/accounts/main/", READ),
    ("api/v1/emag/accounts/<slug:name>/", "PUT"): Case(
        "/api/v1/emag/accounts/main/", ADMIN_ONLY, {**FULL_ACCOUNT, "username": "u"}
    ),
    ("api/v1/emag/accounts/<slug:name>/", "PATCH"): Case(
        "/api/v1/emag/accounts/main/", ADMIN_ONLY, {"sync_interval_minutes": 30}
    ),
    ("api/v1/emag/accounts/<slug:name>/disable/", "POST"): Case("/api/v1/emag/accounts/main/disable/", ADMIN_ONLY),
    ("api/v1/emag/accounts/<slug:name>/enable/", "POST"): Case("/api/v1/emag/accounts/main/enable/", ADMIN_ONLY),
    ("api/v1/emag/accounts/<slug:name>/test/", "POST"): Case(
        "/api/v1/emag/accounts/main/test/", expect(401, 403, 200, 200)
    ),
    # Catalogue: read-only for everyone.
    ("api/v1/emag/products/", "GET"): Case("/api/v1/emag/products/", READ),
    ("api/v1/emag/products/<int:pk>/", "GET"): Case("/api/v1/emag/products/{product}/", READ),
    ("api/v1/emag/offers/", "GET"): Case("/api/v1/emag/offers/", READ),
    ("api/v1/emag/offers/<int:pk>/", "GET"): Case("/api/v1/emag/offers/{offer}/", READ),
    # Sync runs: everyone reads, operators start and cancel.
    ("api/v1/emag/sync-runs/", "GET"): Case("/api/v1/emag/sync-runs/", READ),
    ("api/v1/emag/sync-runs/", "POST"): Case("/api/v1/emag/sync-runs/", OPERATE, {"account": "main"}),
    ("api/v1/emag/sync-runs/<int:pk>/", "GET"): Case("/api/v1/emag/sync-runs/{run}/", READ),
    ("api/v1/emag/sync-runs/<int:pk>/cancel/", "POST"): Case("/api/v1/emag/sync-runs/{running_run}/cancel/", OPERATE),
    ("api/v1/emag/sync-runs/<int:pk>/errors/", "GET"): Case("/api/v1/emag/sync-runs/{run}/errors/", READ),
    # The endpoints of the system we replace.
    ("api/v1/emag/enhanced/products/all", "GET"): Case("/api/v1/emag/enhanced/products/all?account_type=both", READ),
    ("api/v1/emag/enhanced/offers/all", "GET"): Case("/api/v1/emag/enhanced/offers/all", READ),
    ("api/v1/emag/enhanced/status", "GET"): Case("/api/v1/emag/enhanced/status", READ),
    ("api/v1/emag/enhanced/sync/all-products", "POST"): Case(
        "/api/v1/emag/enhanced/sync/all-products", OPERATE, {"max_pages_per_account": 2}
    ),
    # Monitoring (monitoring/urls.py).
    ("health", "GET"): Case("/health", PUBLIC),
    ("health/ready", "GET"): Case("/health/ready", PUBLIC),
    ("metrics", "GET"): Case("/metrics", expect(401, 200, 200, 200), notes="staff session or METRICS_TOKEN"),
    ("api/v1/emag/management/health", "GET"): Case("/api/v1/emag/management/health", READ),
    ("api/v1/emag/management/monitoring/metrics", "GET"): Case("/api/v1/emag/management/monitoring/metrics", READ),
    ("api/v1/emag/management/monitoring/sync-stats", "GET"): Case(
        "/api/v1/emag/management/monitoring/sync-stats", READ
    ),
    ("api/v1/emag/management/monitoring/product-stats", "GET"): Case(
        "/api/v1/emag/management/monitoring/product-stats", READ
    ),
    ("api/v1/emag/management/rate-limiter/stats", "GET"): Case("/api/v1/emag/management/rate-limiter/stats", READ),
    ("api/v1/emag/management/rate-limiter/reset", "POST"): Case(
        "/api/v1/emag/management/rate-limiter/reset", ADMIN_ONLY, {}
    ),
    ("api/v1/emag/management/backups", "GET"): Case("/api/v1/emag/management/backups", ADMIN_ONLY),
    ("api/v1/emag/management/backups", "POST"): Case("/api/v1/emag/management/backups", expect(401, 403, 403, 202), {}),
    ("api/v1/emag/management/backups/<int:pk>", "GET"): Case("/api/v1/emag/management/backups/{backup}", ADMIN_ONLY),
    # The schema and its readers.
    ("api/schema/", "GET"): Case("/api/schema/", READ),
    ("api/docs/", "GET"): Case("/api/docs/", READ),
    ("api/redoc/", "GET"): Case("/api/redoc/", READ),
}

# Admin pages an anonymous visitor may open (or that send them elsewhere than the login page).
ADMIN_ANONYMOUS_EXCEPTIONS = {
    "admin/login/": 200,
    "admin/logout/": 302,  # a GET logs nobody out; it goes back to the admin index
}


# --- Walking the URL configuration --------------------------------------------------------------------------------


def url_patterns(patterns=None, prefix: str = ""):
    """(route, pattern) for every URL pattern, routes written as in the URL configuration."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def declared_methods(pattern: URLPattern) -> set[str] | None:
    """The HTTP methods a DRF view answers (None for a plain Django view: the table decides)."""
    callback = pattern.callback
    ignored = {"options", "head"}  # answered by every view, with no more rights than GET
    if hasattr(callback, "actions"):  # a viewset route
        return {method.upper() for method in callback.actions if method not in ignored}
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is None:
        return None
    return {m.upper() for m in cls.http_method_names if m not in ignored and hasattr(cls, m)}


def api_routes() -> dict[str, URLPattern]:
    return {route: pattern for route, pattern in url_patterns() if not route.startswith("admin/")}


def admin_routes() -> list[str]:
    return [route for route, _ in url_patterns() if route.startswith("admin/")]


def concrete_admin_url(route: str) -> str:
    """An address that the route matches: ids become 1, app labels the first one listed."""
    route = re.sub(r"\(\?P<app_label>([^|)]+)[^)]*\)", r"\1", route)
    route = re.sub(r"\(\?P<url>\.\*\)", "no-such-page/", route)
    route = re.sub(r"<(?:\w+:)?\w+>", "1", route)
    return "/" + route.replace("^", "").replace("$", "")


# --- Fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture
def world(account, other_account, viewer, operator, admin_user):
    from emag.models import SyncError
    from monitoring.models import Backup

    offer = make_offer(account, "SKU-M", name="Matrix kettle")
    make_offer(other_account, "SKU-M")
    run = make_run(account, status="completed_with_rejections", rejected=1)
    SyncError.objects.create(run=run, page=1, index=0, reason_code="bad_price", message="Price is not a number")
    running_run = make_run(other_account, status="running")
    backup = Backup.objects.create(trigger=Backup.Trigger.API, directory="/tmp", days=30)
    return {
        "users": {"viewer": viewer, "operator": operator, "admin": admin_user},
        "ids": {
            "offer": offer.pk,
            "product": offer.product_id,
            "run": run.pk,
            "running_run": running_run.pk,
            "backup": backup.pk,
        },
    }


def client_for(world, role: str) -> APIClient:
    """A client with the role's session (admin pages, /metrics) and a bearer token (the API)."""
    client = APIClient()
    if role != "anonymous":
        user = world["users"][role]
        client.force_login(user)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def call(world, role: str, method: str, case: Case):
    url = case.url.format(**world["ids"])
    body = case.body(world, role) if callable(case.body) else case.body
    client = client_for(world, role)
    # Each role acts on the same world: what one role changes is rolled back before the next.
    with transaction.atomic():
        cache.clear()  # throttle counters
        data = "" if body is None else json.dumps(body)
        response = client.generic(method, url, data=data, content_type="application/json")
        transaction.set_rollback(True)
    return response


# --- Tests ----------------------------------------------------------------------------------------------------------


def test_the_matrix_covers_every_url_pattern_and_method():
    routes = api_routes()
    missing, stale, methods_missing = [], [], []
    table_routes = {route for route, _ in MATRIX}
    for route, pattern in routes.items():
        if route not in table_routes:
            missing.append(route)
            continue
        answered = declared_methods(pattern)
        listed = {method for table_route, method in MATRIX if table_route == route}
        if answered is not None and answered != listed:
            methods_missing.append(f"{route}: view answers {sorted(answered)}, table lists {sorted(listed)}")
    stale = sorted(table_routes - set(routes))
    assert not missing, f"URL patterns missing from the authorization matrix: {missing}"
    assert not methods_missing, "Methods missing from the authorization matrix:\n" + "\n".join(methods_missing)
    assert not stale, f"Matrix rows for URL patterns that no longer exist: {stale}"


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "method"), list(MATRIX), ids=[f"{m} {r}" for r, m in MATRIX])
def test_each_role_gets_the_expected_status(world, route, method):
    case = MATRIX[(route, method)]
    got = {role: call(world, role, method, case).status_code for role in ROLES}
    assert got == case.expected


@pytest.mark.django_db
def test_every_admin_page_sends_anonymous_visitors_to_the_login_page(client):
    wrong = []
    for route in admin_routes():
        url = concrete_admin_url(route)
        response = client.get(url)
        expected = ADMIN_ANONYMOUS_EXCEPTIONS.get(route, 302)
        location = response.get("Location", "")
        sent_to_login = route in ADMIN_ANONYMOUS_EXCEPTIONS or "/admin/login/" in location
        if response.status_code != expected or not sent_to_login:
            wrong.append(f"{url}: {response.status_code} {location}")
    assert not wrong, "Admin pages open to anonymous visitors:\n" + "\n".join(wrong)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
def test_staff_see_an_admin_model_page_only_with_a_permission_on_the_model(world, role):
    user = world["users"][role]
    client = client_for(world, role)
    assert client.get("/admin/").status_code == 200
    wrong = []
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        allowed = model_admin.has_view_or_change_permission(_request_for(user))
        expected_perm = user.has_perm(f"{opts.app_label}.view_{opts.model_name}") or user.has_perm(
            f"{opts.app_label}.change_{opts.model_name}"
        )
        url = f"/admin/{opts.app_label}/{opts.model_name}/"
        status = client.get(url).status_code
        expected = 200 if expected_perm else 403
        if status != expected or allowed != expected_perm:
            wrong.append(f"{url}: {status}, expected {expected}")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


def _request_for(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return request
