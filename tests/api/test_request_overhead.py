"""What every API request pays before its rows: the role check, the filter form, the serializer's fields.

Each is done once where it can be (per class) and fresh where it must be (per request)."""

import django_filters
import pytest
from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import JWTAuthentication
from accounts.backends import PermissionBackend
from accounts.models import User
from emag.api import fast
from emag.api.filters import FilterSet, OfferFilter, ProductFilter
from emag.api.legacy import LegacyOfferRowSerializer
from emag.api.serializers import OfferSerializer, ProductSerializer
from emag.models import Offer, Product, SellerAccount
from tests.api.conftest import bearer, make_offer

pytestmark = pytest.mark.django_db


def _permission(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="emag", codename=codename)


def test_a_users_permissions_are_their_own_and_their_groups_read_in_one_query():
    user = User.objects.create_user("mixed@example.com", "pw-123456789")
    group = Group.objects.create(name="readers")
    group.permissions.add(_permission("view_offer"))
    user.groups.add(group)
    user.user_permissions.add(_permission("view_product"))

    with CaptureQueriesContext(connection) as captured:
        permissions = PermissionBackend().get_all_permissions(user)
        assert user.has_perm("emag.view_offer") and user.has_perm("emag.view_product")

    assert permissions == {"emag.view_offer", "emag.view_product"}
    assert len(captured.captured_queries) == 1


def test_the_permissions_match_djangos_own_backend_for_every_role(viewer, operator, admin_user):
    from django.contrib.auth.backends import ModelBackend

    superuser = User.objects.create_superuser("root@example.com", "pw-123456789")
    for user in (viewer, operator, admin_user, superuser):
        fresh = User.objects.get(pk=user.pk)
        reference = User.objects.get(pk=user.pk)
        assert PermissionBackend().get_all_permissions(fresh) == ModelBackend().get_all_permissions(reference)


def test_an_inactive_user_holds_no_permission(viewer):
    viewer.is_active = False
    assert PermissionBackend().get_all_permissions(viewer) == set()
    assert not viewer.has_perm("emag.view_offer")


on_postgresql = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="the one-query path is PostgreSQL's; other databases take simplejwt's",
)


@on_postgresql
def test_an_api_request_reads_its_user_and_their_permissions_in_one_query(api_client, viewer, account):
    make_offer(account, "O-1")
    bearer(api_client, viewer)

    with CaptureQueriesContext(connection) as captured:
        assert api_client.get("/api/v1/emag/offers/").status_code == 200

    about_users = [
        q["sql"] for q in captured.captured_queries if "accounts_user" in q["sql"] or "auth_permission" in q["sql"]
    ]
    assert len(about_users) == 1
    assert "auth_permission" in about_users[0] and "accounts_user" in about_users[0]


def test_the_token_gives_the_same_user_and_permissions_as_django_for_every_role(viewer, operator, admin_user):
    superuser = User.objects.create_superuser("root@example.com", "pw-123456789")
    for user in (viewer, operator, admin_user, superuser):
        authenticated = JWTAuthentication().get_user(AccessToken.for_user(user))
        reference = User.objects.get(pk=user.pk)

        assert [getattr(authenticated, f.attname) for f in User._meta.concrete_fields] == [
            getattr(reference, f.attname) for f in User._meta.concrete_fields
        ]
        assert authenticated.get_all_permissions() == reference.get_all_permissions()
        assert authenticated.has_perm("emag.start_sync") == reference.has_perm("emag.start_sync")
        assert not authenticated._state.adding and authenticated._state.db == "default"


def test_a_token_of_a_deactivated_or_deleted_user_is_refused_with_a_401(api_client, viewer, operator):
    bearer(api_client, viewer)
    viewer.is_active = False
    viewer.save()
    assert api_client.get("/api/v1/emag/offers/").status_code == 401

    bearer(api_client, operator)
    operator.delete()
    response = api_client.get("/api/v1/emag/offers/")
    assert response.status_code == 401
    assert "error" in response.json()


def test_a_signed_token_without_a_usable_user_id_is_refused_with_a_401(api_client, viewer):
    missing = object()
    for user_id in ("not-a-number", missing, None, 10**30, -(2**63) - 1):
        token = AccessToken.for_user(viewer)
        if user_id is missing:
            del token["user_id"]
        else:
            token["user_id"] = user_id
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = api_client.get("/api/v1/emag/offers/")
        assert response.status_code == 401, response.content
        assert "error" in response.json()


def test_a_role_taken_away_is_refused_on_the_very_next_request(api_client, viewer, account):
    make_offer(account, "R-1")
    bearer(api_client, viewer)
    assert api_client.get("/api/v1/emag/offers/").status_code == 200

    viewer.groups.clear()

    response = api_client.get("/api/v1/emag/offers/")
    assert response.status_code == 403
    assert "emag.view_offer" in response.json()["error"]["message"]


def test_context_free_list_serializers_share_one_plan_and_keep_no_request(rf, account):
    make_offer(account, "P-1", price="12.5")
    offers = list(Offer.objects.select_related("account", "product"))
    first = OfferSerializer(offers, many=True, context={"request": rf.get("/one")}).data
    second_serializer = OfferSerializer(offers, many=True, context={"request": rf.get("/two")})
    second = second_serializer.data

    assert first == second
    assert second_serializer.child._representation_plan() is fast._SHARED_PLANS[OfferSerializer]
    for _name, _kind, _attrs, _convert, field in fast._SHARED_PLANS[OfferSerializer]:
        assert field.context == {}  # built from an instance of its own, not from a request's
    assert ProductSerializer()._shared_plan() is not None  # its nested offers are context-free too


def test_a_shared_plan_writes_dates_in_the_time_zone_active_at_each_request(account):
    make_offer(account, "Z-1")
    offers = list(Offer.objects.select_related("account", "product"))
    OfferSerializer(offers, many=True).data  # the plan is built (and shared) under the default zone

    with timezone.override("UTC"):
        in_utc = OfferSerializer(offers, many=True).data[0]["last_changed_at"]
    with timezone.override("Asia/Tokyo"):
        in_tokyo = OfferSerializer(offers, many=True).data[0]["last_changed_at"]

    assert in_utc.endswith("Z") and in_tokyo.endswith("+09:00")


def test_the_offers_list_writes_dates_in_the_time_zone_active_for_the_request(api_client, viewer, account):
    make_offer(account, "Z-2")
    bearer(api_client, viewer)
    default = api_client.get("/api/v1/emag/offers/").json()["results"][0]["last_changed_at"]
    with timezone.override("Asia/Tokyo"):
        in_tokyo = api_client.get("/api/v1/emag/offers/").json()["results"][0]["last_changed_at"]

    assert default.endswith(("+02:00", "+03:00")) and in_tokyo.endswith("+09:00")


def test_a_serializer_with_method_fields_builds_its_plan_per_instance():
    assert LegacyOfferRowSerializer()._shared_plan() is None

    class Reads(fast.FastRepresentationMixin, serializers.Serializer):
        who = serializers.SerializerMethodField()

        def get_who(self, obj: object) -> str:
            return self.context["request"].user.email

    assert Reads()._shared_plan() is None


def test_the_filter_form_is_built_once_per_filter_class():
    first = OfferFilter({"status": "1"}, queryset=Offer.objects.all())
    second = OfferFilter({"status": "x"}, queryset=Offer.objects.all())

    assert first.get_form_class() is second.get_form_class()
    assert first.is_valid() and not second.is_valid()  # each request still validates its own data
    assert "status" in second.errors


def test_each_filterset_gets_its_own_filters_bound_to_itself():
    first = ProductFilter({"account": "main"}, queryset=Product.objects.all())
    second = ProductFilter({"account": "fbe"}, queryset=Product.objects.all())

    assert first.filters["account"] is not second.filters["account"]
    assert first.filters["account"].parent is first and second.filters["account"].parent is second
    # A method filter calls the method of its own FilterSet, not of another request's.
    assert first.filters["account"].filter.f is first.filters["account"]
    assert ProductFilter.base_filters["account"].__dict__.get("parent") is None


def test_the_filter_forms_share_their_fields_and_keep_their_own_data_and_errors():
    first = OfferFilter({"status": "1", "sellable": "yes"}, queryset=Offer.objects.all())
    second = OfferFilter({"status": "x", "sellable": "maybe"}, queryset=Offer.objects.all())

    assert first.is_valid() and not second.is_valid()
    assert first.form.fields["status"] is second.form.fields["status"]
    assert first.form.cleaned_data["sellable"] is True
    assert set(second.errors) == {"status", "sellable"} and not first.errors


def test_a_filter_with_a_queryset_is_copied_whole_and_builds_its_form_per_request():
    class ByAccount(FilterSet):
        account = django_filters.ModelChoiceFilter(queryset=SellerAccount.objects.all())

        class Meta:
            model = Offer
            fields = []

    first, second = ByAccount(), ByAccount()
    assert first.filters["account"].queryset is not second.filters["account"].queryset
    assert first.get_form_class() is not second.get_form_class()
