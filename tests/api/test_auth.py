from datetime import timedelta
from urllib.parse import urlencode

import jwt
import pytest
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from tests.api.conftest import bearer

PASSWORD = "a-Long-test-passw0rd"
LOGIN = "/api/v1/auth/login"


def login(client, email, password=PASSWORD, address="10.0.0.1"):
    return client.post(LOGIN, {"username": email, "password": password}, format="json", REMOTE_ADDR=address)


@pytest.mark.django_db
def test_it_logs_in_with_the_email_and_answers_the_token_pair_clients_read(api_client, viewer):
    response = login(api_client, "VIEWER@example.com")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 1800
    me = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert me.status_code == 200
    assert me.json()["email"] == "viewer@example.com"
    assert me.json()["role"] == "viewer"
    assert "emag.view_offer" in me.json()["permissions"]


@pytest.mark.django_db
def test_it_refuses_a_wrong_password_with_a_401_in_the_error_shape(api_client, viewer):
    response = login(api_client, "viewer@example.com", "wrong")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"


@pytest.mark.django_db
def test_it_refuses_an_inactive_user(api_client, viewer):
    viewer.is_active = False
    viewer.save()
    assert login(api_client, "viewer@example.com").status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"username": "viewer@example.com"}, {"username": ["x"], "password": 1}])
def test_it_answers_400_with_field_details_for_a_malformed_login(api_client, viewer, body):
    response = api_client.post(LOGIN, body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"]


@pytest.mark.django_db
def test_it_answers_400_for_a_body_that_is_not_json(api_client):
    response = api_client.post(LOGIN, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_it_refuses_a_body_over_the_size_limit_with_413(api_client):
    response = api_client.post(LOGIN, {"username": "x@example.com", "password": "p" * 2000}, format="json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.django_db
def test_it_rotates_the_refresh_token_and_refuses_the_old_one(api_client, viewer):
    first = login(api_client, "viewer@example.com").json()
    refreshed = api_client.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json")
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert second["refresh_token"] != first["refresh_token"]
    assert api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {second['access_token']}").status_code == 200

    reused = api_client.post("/api/v1/auth/refresh", {"refresh_token": first["refresh_token"]}, format="json")
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_not_valid"

    # The new one works, once, also at the path the old system used.
    again = api_client.post("/api/v1/auth/refresh-token", {"refresh_token": second["refresh_token"]}, format="json")
    assert again.status_code == 200


@pytest.mark.django_db
def test_it_refuses_to_refresh_with_an_access_token(api_client, viewer):
    tokens = login(api_client, "viewer@example.com").json()
    response = api_client.post("/api/v1/auth/refresh", {"refresh_token": tokens["access_token"]}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_it_refuses_to_refresh_for_a_user_disabled_since(api_client, viewer):
    tokens = login(api_client, "viewer@example.com").json()
    viewer.is_active = False
    viewer.save()
    response = api_client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


@pytest.mark.django_db
def test_it_logs_out_by_revoking_the_refresh_token(api_client, viewer):
    tokens = login(api_client, "viewer@example.com").json()
    bearer_header = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access_token']}"}
    response = api_client.post(
        "/api/v1/auth/logout", {"refresh_token": tokens["refresh_token"]}, format="json", **bearer_header
    )
    assert response.status_code == 204
    refused = api_client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert refused.status_code == 401


@pytest.mark.django_db
def test_it_does_not_let_a_user_revoke_another_users_token(api_client, viewer, operator):
    others = str(RefreshToken.for_user(operator))
    response = bearer(api_client, viewer).post("/api/v1/auth/logout", {"refresh_token": others}, format="json")
    assert response.status_code == 400
    ok = api_client.post("/api/v1/auth/refresh", {"refresh_token": others}, format="json")
    assert ok.status_code == 200


@pytest.mark.django_db
def test_it_requires_authentication_to_log_out(api_client, viewer):
    refresh = str(RefreshToken.for_user(viewer))
    assert api_client.post("/api/v1/auth/logout", {"refresh_token": refresh}, format="json").status_code == 401


@pytest.mark.django_db
def test_it_refuses_an_expired_access_token(api_client, viewer):
    token = AccessToken.for_user(viewer)
    token.set_exp(lifetime=-timedelta(seconds=1))
    response = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


@pytest.mark.django_db
def test_it_refuses_an_expired_refresh_token(api_client, viewer):
    token = RefreshToken.for_user(viewer)
    token.set_exp(lifetime=-timedelta(seconds=1))
    response = api_client.post("/api/v1/auth/refresh", {"refresh_token": str(token)}, format="json")
    assert response.status_code == 401


@pytest.mark.django_db
def test_it_refuses_a_tampered_token(api_client, viewer, admin_user):
    header, payload, signature = str(AccessToken.for_user(viewer)).split(".")
    other_payload = str(AccessToken.for_user(admin_user)).split(".")[1]
    forged = f"{header}.{other_payload}.{signature}"
    response = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["another-signing-key-of-at-least-32-bytes", "SECRET_KEY"])
def test_it_refuses_a_token_signed_with_another_key_even_the_django_secret_key(api_client, viewer, settings, key):
    payload = AccessToken.for_user(viewer).payload
    forged = jwt.encode(payload, settings.SECRET_KEY if key == "SECRET_KEY" else key, algorithm="HS256")
    response = api_client.get("/api/v1/auth/me", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert response.status_code == 401


@pytest.mark.django_db
def test_it_locks_a_username_out_after_five_failures_even_with_the_right_password(api_client, viewer):
    for attempt in range(4):
        # From a different address each time: the username alone triggers the lockout.
        assert login(api_client, "viewer@example.com", "wrong", address=f"10.0.1.{attempt}").status_code == 401
    # The fifth failure is counted, and answered with the lockout already.
    assert login(api_client, "viewer@example.com", "wrong", address="10.0.1.9").status_code == 429
    response = login(api_client, "viewer@example.com", address="10.0.2.1")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "login_locked"
    assert "access_token" not in response.content.decode()
    # Another user is not affected.
    assert login(api_client, "operator@example.com", "x", address="10.0.3.1").status_code == 401


@pytest.mark.django_db
def test_it_locks_a_client_address_out_after_five_failures_whatever_the_username(api_client, viewer):
    for attempt in range(4):
        assert login(api_client, f"nobody{attempt}@example.com", "wrong", address="192.0.2.9").status_code == 401
    assert login(api_client, "nobody9@example.com", "wrong", address="192.0.2.9").status_code == 429
    response = login(api_client, "viewer@example.com", address="192.0.2.9")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "login_locked"
    # The same user from another address still gets in.
    assert login(api_client, "viewer@example.com", address="192.0.2.10").status_code == 200


@pytest.mark.django_db
def test_it_also_takes_the_login_as_a_form_like_the_system_we_replace(api_client, viewer):
    body = urlencode({"username": "viewer@example.com", "password": PASSWORD})
    response = api_client.post(LOGIN, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_form_login_over_the_size_limit_is_refused_with_413(api_client):
    body = urlencode({"username": "x@example.com", "password": "p" * 2000})
    response = api_client.post(LOGIN, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


@pytest.mark.django_db
def test_it_takes_the_refresh_token_as_a_bearer_header_like_the_system_we_replace(api_client, viewer):
    tokens = login(api_client, "viewer@example.com").json()
    response = api_client.post("/api/v1/auth/refresh-token", HTTP_AUTHORIZATION=f"Bearer {tokens['refresh_token']}")
    assert response.status_code == 200
    reused = api_client.post("/api/v1/auth/refresh-token", HTTP_AUTHORIZATION=f"Bearer {tokens['refresh_token']}")
    assert reused.status_code == 401
    # An access token in the header is not a refresh token.
    access = api_client.post("/api/v1/auth/refresh-token", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert access.status_code == 401
