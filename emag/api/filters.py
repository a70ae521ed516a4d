"""Query-parameter filters of the list endpoints (django-filter)."""

import copy

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django_filters.filters import FilterMethod
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework.filters import SearchFilter
from rest_framework.request import Request
from rest_framework.views import APIView

from emag import selectors
from emag.models import Offer, Product, SellerAccount, SyncError, SyncRun


class StrictBooleanField(forms.NullBooleanField):
    """true/false (or 1/0, yes/no); anything else is an error, not silently "no filter"."""

    widget = forms.TextInput  # NullBooleanSelect would turn an unknown word into "no filter"

    def to_python(self, value: object) -> bool | None:
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise ValidationError("Use true or false.", code="invalid")

    def validate(self, value: bool | None) -> None:
        pass  # None (no filter), True and False are all valid


class BooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class _SharedFormFields(dict):
    """A form class's fields, which each form of it uses as they are instead of deep copies.

    Django's Form deep-copies its fields (widgets, choices) in case a form changes its own; a
    filter form only validates query parameters, which reads them: ~0.2 ms of each list request.
    """

    def __deepcopy__(self, memo: dict) -> dict:
        return dict(self)


class _FilterCopies(dict):
    """A FilterSet's filters, which each FilterSet copies shallowly instead of deeply.

    FilterSet.__init__ deep-copies every filter (their choices, their cached form fields) to give
    the copies its model and itself as parent; shallow copies take those as well. A filter with a
    `method` calls it through a FilterMethod that names its filter: each copy gets its own. Filters
    whose queryset may depend on the request are still deep-copied.
    """

    def __deepcopy__(self, memo: dict) -> dict:
        copies = {}
        for name, filter_ in self.items():
            if isinstance(filter_, django_filters.filters.QuerySetRequestMixin):
                copies[name] = copy.deepcopy(filter_, memo)
                continue
            copies[name] = clone = copy.copy(filter_)
            if isinstance(clone.__dict__.get("filter"), FilterMethod):
                clone.filter = FilterMethod(clone)
        return copies


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet with its form class built once per class instead of on every request.

    Building it makes a form field for every filter (labels from the model, choices): about a
    millisecond of each list request. It depends only on the class unless a filter takes a queryset
    (which may depend on the request: those are built per request). Neither the filters nor the
    form's fields are deep-copied for each request (_FilterCopies, _SharedFormFields).
    """

    @classmethod
    def get_filters(cls) -> dict:
        return _FilterCopies(super().get_filters())

    def get_form_class(self) -> type[forms.Form]:
        if any(isinstance(f, django_filters.filters.QuerySetRequestMixin) for f in self.filters.values()):
            return super().get_form_class()  # a model choice filter may list what the request may see
        cls = type(self)
        form_class = cls.__dict__.get("_shared_form_class")
        if form_class is None:
            form_class = super().get_form_class()
            form_class.base_fields = _SharedFormFields(form_class.base_fields)
            cls._shared_form_class = form_class
        return form_class


class OfferFilter(FilterSet):
    account = django_filters.CharFilter(field_name="account__name", help_text="The seller account's name.")
    account_kind = django_filters.ChoiceFilter(
        field_name="account__kind", choices=SellerAccount.Kind.choices, help_text="main or fbe."
    )
    status = django_filters.TypedChoiceFilter(choices=Offer.Status.choices, coerce=int, help_text="0, 1 or 2.")
    sellable = BooleanFilter(field_name="is_sellable")
    present = BooleanFilter(field_name="is_present", help_text="Still on eMAG at the last full sync.")
    validation_status = django_filters.NumberFilter()
    offer_validation_status = django_filters.NumberFilter()
    stock_min = django_filters.NumberFilter(field_name="stock_total", lookup_expr="gte")
    stock_max = django_filters.NumberFilter(field_name="stock_total", lookup_expr="lte")
    price_min = django_filters.NumberFilter(field_name="sale_price", lookup_expr="gte")
    price_max = django_filters.NumberFilter(field_name="sale_price", lookup_expr="lte")
    changed_since = django_filters.IsoDateTimeFilter(
        field_name="last_changed_at", lookup_expr="gte", help_text="ISO 8601 date and time."
    )
    sku = django_filters.CharFilter(field_name="product__sku", help_text="Exact SKU.")
    emag_id = django_filters.NumberFilter()

    class Meta:
        model = Offer
        fields = []


@extend_schema_field(OpenApiTypes.INT)
class OfferStatusFilter(django_filters.TypedChoiceFilter):
    """An offer status (0, 1, 2) on a product's offers; the schema cannot guess its type from a method."""


class ProductFilter(FilterSet):
    """Filters on the product's offers: a product matches when ONE of its offers meets them all."""

    account = django_filters.CharFilter(method="filter_offers", help_text="Has an offer on this account (name).")
    status = OfferStatusFilter(choices=Offer.Status.choices, coerce=int, method="filter_offers", help_text="0, 1 or 2.")
    sellable = BooleanFilter(method="filter_offers")
    validation_status = django_filters.NumberFilter(method="filter_offers")
    stock_min = django_filters.NumberFilter(method="filter_offers")
    stock_max = django_filters.NumberFilter(method="filter_offers")
    price_min = django_filters.NumberFilter(method="filter_offers")
    price_max = django_filters.NumberFilter(method="filter_offers")
    changed_since = django_filters.IsoDateTimeFilter(method="filter_offers", help_text="ISO 8601 date and time.")
    brand = django_filters.CharFilter(lookup_expr="iexact")
    category_id = django_filters.NumberFilter()

    OFFER_LOOKUPS = {
        "account": "account__name",
        "status": "status",
        "sellable": "is_sellable",
        "validation_status": "validation_status",
        "stock_min": "stock_total__gte",
        "stock_max": "stock_total__lte",
        "price_min": "sale_price__gte",
        "price_max": "sale_price__lte",
        "changed_since": "last_changed_at__gte",
    }

    class Meta:
        model = Product
        fields = []

    def filter_offers(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        return queryset  # applied together in filter_queryset, so they all hold for the same offer

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        conditions = Q()
        for name, lookup in self.OFFER_LOOKUPS.items():
            value = self.form.cleaned_data.get(name)
            if value is not None and value != "":
                conditions &= Q(**{lookup: value})
        queryset = super().filter_queryset(queryset)
        if conditions:
            matching = Offer.objects.filter(conditions, product=OuterRef("pk"))
            queryset = queryset.filter(Exists(matching))
        return queryset


class SyncRunFilter(FilterSet):
    account = django_filters.CharFilter(field_name="account__name", help_text="The seller account's name.")
    status = django_filters.MultipleChoiceFilter(choices=SyncRun.Status.choices)
    trigger = django_filters.ChoiceFilter(choices=SyncRun.Trigger.choices)
    kind = django_filters.ChoiceFilter(choices=SyncRun.Kind.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = SyncRun
        fields = []


class SyncErrorFilter(FilterSet):
    reason_code = django_filters.CharFilter()
    page = django_filters.NumberFilter()

    class Meta:
        model = SyncError
        fields = []


class OfferSearchFilter(SearchFilter):
    """DRF's `search` on offers, with DRF's terms and rows, found through the product search table
    (selectors.search_offers)."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: APIView) -> QuerySet:
        return selectors.search_offers(queryset, self.get_search_terms(request))


class ProductSearchFilter(SearchFilter):
    """DRF's `search` on products, with DRF's terms and rows, found through the product search table
    (selectors.search_products)."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: APIView) -> QuerySet:
        return selectors.search_products(queryset, self.get_search_terms(request))
