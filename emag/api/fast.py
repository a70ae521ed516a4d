"""DRF's own output for the list serializers, without most of its per-field overhead.

A page of 50 offers is ~2,000 field values. DRF's `Serializer.to_representation` spends a few
microseconds of bookkeeping on each (the `get_attribute` helper inspects every value's signature,
`SkipField` handling, `PKOnlyObject` checks): ~0.5 ms of Python per offer, which capped the offers
list at ~100 requests/s on two cores. `FastRepresentationMixin` walks a plan built once per
serializer instead: a value whose field would return it unchanged (ints, strings, booleans, choices,
JSON) is copied; every other field (decimals, dates, nested serializers, method fields, related
fields) still formats through its own `to_representation`, so the output is DRF's byte for byte
(tests/api/test_fast_serializers.py compares the two on every field).
"""

import datetime
import decimal
import functools
import types
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.fields import Field, SkipField, is_simple_callable
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

# Fields whose to_representation returns a value of the right type as it is (str(str), int(int),
# a valid choice, a JSON value). Exact types only: subclasses such as MultipleChoiceField convert.
IDENTITY_FIELDS = frozenset(
    {
        serializers.IntegerField,
        serializers.CharField,
        serializers.BooleanField,
        serializers.ChoiceField,
        serializers.JSONField,
        serializers.SlugField,
    }
)
# Values that might be a zero-argument callable DRF would call (get_status_display is a partial).
MAYBE_CALLABLE = (types.MethodType, types.FunctionType, functools.partial)

FAST, CONVERT, SLOW = 0, 1, 2

_CALLABLE_VERDICTS: dict[tuple, bool] = {}


def _is_simple_callable(value: object) -> bool:
    """DRF's is_simple_callable, remembered per function: it inspects a signature (~3 us) every time."""
    # Keyed by the plain function, never a bound method: those are new objects for every row.
    if isinstance(value, functools.partial):
        key = (getattr(value.func, "__func__", value.func), len(value.args), tuple(sorted(value.keywords)))
    else:
        key = (getattr(value, "__func__", value),)
    verdict = _CALLABLE_VERDICTS.get(key)
    if verdict is None:
        verdict = _CALLABLE_VERDICTS[key] = is_simple_callable(value)
    return verdict


def _step(field: Field) -> tuple:
    """How to read and format one field: (name, kind, source attributes, formatter, field)."""
    uses_default_lookup = type(field).get_attribute is Field.get_attribute or isinstance(
        field, serializers.SlugRelatedField
    )
    if field.source == "*" or not uses_default_lookup or field.default is not serializers.empty:
        return field.field_name, SLOW, (), field.to_representation, field
    identity = type(field) in IDENTITY_FIELDS and not getattr(field, "binary", False)
    kind = FAST if identity else CONVERT
    return field.field_name, kind, tuple(field.source_attrs), _formatter(field), field


def _formatter(field: Field) -> Callable[[object], object]:
    """The field's to_representation, or the same steps with their settings looked up once, not per value."""
    if type(field) is serializers.DecimalField:
        coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        if coerce and not field.normalize_output and not field.localize and field.decimal_places is not None:
            exponent = decimal.Decimal(".1") ** field.decimal_places
            context = decimal.getcontext().copy()
            if field.max_digits is not None:
                context.prec = field.max_digits
            rounding = field.rounding

            def decimal_text(value: object) -> object:
                if type(value) is not decimal.Decimal:
                    return field.to_representation(value)
                return f"{value.quantize(exponent, rounding=rounding, context=context):f}"

            return decimal_text
    if type(field) is serializers.DateTimeField and settings.USE_TZ and not hasattr(field, "timezone"):
        output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
        if isinstance(output_format, str) and output_format.lower() == ISO_8601:
            zone = timezone.get_current_timezone()

            def datetime_text(value: object) -> object:
                if type(value) is not datetime.datetime or value.utcoffset() is None:
                    return field.to_representation(value)
                try:
                    text = value.astimezone(zone).isoformat()
                except OverflowError:
                    return field.to_representation(value)  # DRF's own error
                return text[:-6] + "Z" if text.endswith("+00:00") else text

            return datetime_text
    return field.to_representation


class FastRepresentationMixin:
    """Mix into a read-only serializer used for lists; its output stays exactly DRF's."""

    def _representation_plan(self) -> list[tuple]:
        plan = self.__dict__.get("_fast_plan")
        if plan is None:
            plan = self.__dict__["_fast_plan"] = [_step(field) for field in self._readable_fields]
        return plan

    def to_representation(self, instance: object) -> dict:
        data = {}
        for name, kind, attrs, convert, field in self._representation_plan():
            if kind == SLOW:
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
                check = value.pk if isinstance(value, PKOnlyObject) else value
                data[name] = None if check is None else convert(value)
                continue
            value = instance
            try:
                for attr in attrs:
                    value = getattr(value, attr)
                    if isinstance(value, MAYBE_CALLABLE) and _is_simple_callable(value):
                        value = value()
            except (AttributeError, KeyError, ObjectDoesNotExist):
                # A missing link in a dotted source: let DRF decide (default, null, skip or error).
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
            if value is None or kind == FAST:
                data[name] = value
            else:
                data[name] = convert(value)
        return data
