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
from collections.abc import Callable, Iterator
from datetime import tzinfo

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db.models import QuerySet
from django.db.models.query import BaseIterable, ModelIterable
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable
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


def _step(field: Field, zone: tzinfo | None = None) -> tuple:
    """How to read and format one field: (name, kind, source attributes, formatter, field).

    `zone`: the time zone dates are written in (default: the one active now).
    """
    uses_default_lookup = type(field).get_attribute is Field.get_attribute or isinstance(
        field, serializers.SlugRelatedField
    )
    if field.source == "*" or not uses_default_lookup or field.default is not serializers.empty:
        return field.field_name, SLOW, (), field.to_representation, field
    identity = type(field) in IDENTITY_FIELDS and not getattr(field, "binary", False)
    if identity and field.source_attrs[-1].startswith("get_") and field.source_attrs[-1].endswith("_display"):
        identity = False  # a value without a label comes back as it is (an int): the field makes it a string
    kind = FAST if identity else CONVERT
    return field.field_name, kind, tuple(field.source_attrs), _formatter(field, zone), field


def _formatter(field: Field, zone: tzinfo | None = None) -> Callable[[object], object]:
    """The field's to_representation, or the same steps with their settings looked up once, not per value."""
    if type(field) is serializers.DecimalField:
        coerce = getattr(field, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        if coerce and not field.normalize_output and not field.localize and field.decimal_places is not None:
            exponent = decimal.Decimal(".1") ** field.decimal_places
            context = decimal.getcontext().copy()
            if field.max_digits is not None:
                context.prec = field.max_digits
            rounding = field.rounding

            places, max_digits = field.decimal_places, field.max_digits

            def decimal_text(value: object) -> object:
                if type(value) is not decimal.Decimal:
                    return field.to_representation(value)
                text = f"{value:f}"
                point = len(text) - places - 1
                if (
                    point > 0
                    and text[point] == "."
                    and (max_digits is None or len(text) - 1 - (text[0] == "-") <= max_digits)
                ):
                    return text  # already at the field's scale (as read from the column): quantize changes nothing
                return f"{value.quantize(exponent, rounding=rounding, context=context):f}"

            return decimal_text
    if type(field) is serializers.BigIntegerField and not getattr(
        field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING
    ):
        return int  # IntegerField.to_representation
    if type(field) is serializers.DateTimeField and settings.USE_TZ and not hasattr(field, "timezone"):
        output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
        if isinstance(output_format, str) and output_format.lower() == ISO_8601:
            zone = zone or timezone.get_current_timezone()

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


# Formatters that read nothing but the value: a plan made only of these and of copied values gives
# the same output whichever serializer instance (and request) it was built from.
CONTEXT_FREE_FIELDS = frozenset(
    {
        serializers.BigIntegerField,
        serializers.CharField,
        serializers.DecimalField,
        serializers.DateTimeField,
        serializers.DateField,
        serializers.FloatField,
        serializers.UUIDField,
        serializers.SlugRelatedField,
    }
)

# The plan of each serializer class whose output cannot depend on its context (None: it can).
_SHARED_PLANS: dict[type, list[tuple] | None] = {}


def _is_context_free(step: tuple) -> bool:
    _name, kind, _attrs, _convert, field = step
    if kind == FAST:
        return True
    if kind == SLOW:  # method fields, source="*", custom lookups: they may read self.context
        return False
    if isinstance(field, serializers.ListSerializer):
        field = field.child
    if isinstance(field, serializers.BaseSerializer):
        return isinstance(field, FastRepresentationMixin) and field._shared_plan() is not None
    return type(field) in CONTEXT_FREE_FIELDS


class FastRepresentationMixin:
    """Mix into a read-only serializer used for lists; its output stays exactly DRF's.

    Building a ModelSerializer's fields costs about 1 ms per request (field kwargs from the model,
    deep copies); when no field can read the request, the plan is built once per class, from an
    instance of its own, and shared by every request.
    """

    # (Not in the docstring: drf-spectacular shows it as the description of every serializer using it.)
    # A list may also hand it the tuples of `values_rows(queryset, serializer_class)`: the same output
    # from the columns alone. Method fields then see an object with the attributes named in
    # `method_sources` (`account__last_full_sync_at` for a related one) and nothing else.
    method_sources: tuple[str, ...] = ()

    def _shared_plan(self) -> list[tuple] | None:
        cls = type(self)
        if cls not in _SHARED_PLANS:
            try:
                prototype = cls()  # no context: nothing of a request is kept
            except Exception:  # a serializer that needs arguments: plan per instance
                plan = None
            else:
                plan = [_step(field, timezone.get_default_timezone()) for field in prototype._readable_fields]
                if not all(_is_context_free(step) for step in plan):
                    plan = None
            _SHARED_PLANS[cls] = plan
        return _SHARED_PLANS[cls]

    def _representation_plan(self) -> list[tuple]:
        plan = self.__dict__.get("_fast_plan")
        if plan is None:
            # Shared plans write dates in the project's time zone: a request that activated another
            # one gets a plan of its own (and model rows: see values_rows).
            plan = self._shared_plan() if in_default_time_zone() else None
            if plan is None:
                plan = [_step(field) for field in self._readable_fields]
            self.__dict__["_fast_plan"] = plan
        return plan

    def to_representation(self, instance: object) -> dict:
        if type(instance) is tuple:  # a row of values_rows(): model instances are never tuples
            plan = values_plan(type(self))
            return _represent_row(plan.steps, instance, self, plan.method_columns)
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


# Reading a list's rows with `.values_list()` instead of model instances. Building a model instance
# (with its account and product) costs more than formatting its fields; a tuple of the columns the
# serializer shows costs a fraction. The serializer stays the one description of the output (and of
# the schema): the values plan says which column feeds each field, and the same formatters run.

NESTED, METHOD, DISPLAY = 3, 4, 5


class Unsupported(Exception):
    """A field the values plan cannot feed from columns: the list reads model instances instead."""


class ValuesPlan:
    """The columns (`values_list` paths) a serializer reads, and how each field is made from them."""

    def __init__(self, serializer_class: type) -> None:
        self.paths: list[str] = []
        self.iterable_class: type | None = None
        self.steps = self._steps(serializer_class, "")
        # Method fields get an object with the attributes they declare they read (`method_sources`).
        self.method_columns: dict[str, int] = {}
        if any(step[1] == METHOD for step in self.steps):
            model = serializer_class.Meta.model
            for source in serializer_class.method_sources:
                self.method_columns[source] = self._column(model, "", source.split("__"))

    def _column(self, model: type, prefix: str, attrs: list[str]) -> int:
        """The row index of a column, following non-null foreign keys (account__name)."""
        for attr in attrs[:-1]:
            relation = model._meta.get_field(attr)
            if not (relation.many_to_one or relation.one_to_one) or relation.null or not relation.concrete:
                raise Unsupported(attr)  # a missing link would need DRF's own handling of None
            model = relation.related_model
        field = model._meta.get_field(attrs[-1])
        if not field.concrete or field.is_relation:
            raise Unsupported(attrs[-1])
        path = prefix + "__".join(attrs)
        if path not in self.paths:
            self.paths.append(path)
        return self.paths.index(path)

    def _steps(self, serializer_class: type, prefix: str) -> list[tuple]:
        model = serializer_class.Meta.model
        steps = []
        for field in serializer_class()._readable_fields:
            name, kind, attrs, convert, _ = step = _step(field, timezone.get_default_timezone())
            attrs = list(attrs)
            if kind == SLOW:
                if type(field) is not serializers.SerializerMethodField or prefix:
                    raise Unsupported(name)
                steps.append((name, METHOD, field.method_name, None))
            elif isinstance(field, serializers.BaseSerializer):
                if not isinstance(field, FastRepresentationMixin) or len(attrs) != 1:
                    raise Unsupported(name)  # ListSerializer included: many rows per row
                relation = model._meta.get_field(attrs[0])
                if not relation.many_to_one or relation.null:
                    raise Unsupported(name)
                steps.append((name, NESTED, self._steps(type(field), f"{prefix}{attrs[0]}__"), None))
            elif not _is_context_free(step):
                raise Unsupported(name)
            elif isinstance(field, serializers.SlugRelatedField):
                # to_representation reads the slug attribute of the related row, as it is.
                steps.append((name, FAST, self._column(model, prefix, [*attrs, *field.slug_field.split("__")]), None))
            elif isinstance(field, serializers.RelatedField):
                raise Unsupported(name)
            elif attrs[-1].startswith("get_") and attrs[-1].endswith("_display"):
                steps.append((name, DISPLAY, *self._display(model, prefix, attrs, kind, convert)))
            else:
                steps.append((name, kind, self._column(model, prefix, attrs), convert))
        return steps

    def _display(self, model: type, prefix: str, attrs: list[str], kind: int, convert: Callable) -> tuple:
        """Model.get_FOO_display(): FOO's label (FOO itself when it has none), then the field's formatting."""
        owner = model
        for attr in attrs[:-1]:
            owner = owner._meta.get_field(attr).related_model
        choice_field = owner._meta.get_field(attrs[-1][4:-8])
        if not choice_field.choices:
            raise Unsupported(attrs[-1])
        labels = dict(make_hashable(choice_field.flatchoices))
        index = self._column(model, prefix, [*attrs[:-1], choice_field.attname])

        def display(value: object) -> object:
            value = force_str(labels.get(make_hashable(value), value), strings_only=True)
            return value if kind == FAST or value is None else convert(value)

        return index, display


class _Row:
    """What a method field sees of a values row: the attributes it declared, related ones nested."""


_VALUES_PLANS: dict[type, ValuesPlan | None] = {}


def in_default_time_zone() -> bool:
    """Whether dates are written in the project's time zone now, as the shared and values plans write them."""
    return timezone.get_current_timezone() == timezone.get_default_timezone()


def values_plan(serializer_class: type) -> ValuesPlan | None:
    """The values plan of a FastRepresentationMixin serializer, or None when a field needs a model instance."""
    if serializer_class not in _VALUES_PLANS:
        plan = None
        if issubclass(serializer_class, FastRepresentationMixin):
            try:
                plan = ValuesPlan(serializer_class)
            except (Unsupported, FieldDoesNotExist, AttributeError, TypeError):
                plan = None
        _VALUES_PLANS[serializer_class] = plan
    return _VALUES_PLANS[serializer_class]


class _RowsIterable(BaseIterable):
    """Yields a page's rows as tuples of the plan's columns (what ValuesListIterable yields for values_list).

    The columns are chosen only when the rows are read, on a copy of the query: until then the
    queryset stays a model queryset, so counting it (COUNT without the joins the columns need,
    the count cache's key) is what it was.
    """

    paths: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[tuple]:
        query = self.queryset.query.chain()
        query.set_values(self.paths)
        compiler = query.get_compiler(self.queryset.db)
        return compiler.results_iter(tuple_expected=True, chunked_fetch=self.chunked_fetch, chunk_size=self.chunk_size)


def values_rows(queryset: QuerySet, serializer_class: type) -> QuerySet:
    """The queryset, yielding the tuples `serializer_class` formats (see ValuesPlan), or as it is when it cannot."""
    plan = values_plan(serializer_class)
    if (
        plan is None
        or not in_default_time_zone()  # the plan writes dates in the project's zone
        or queryset._iterable_class is not ModelIterable
        or queryset._prefetch_related_lookups
    ):
        return queryset
    if plan.iterable_class is None:
        plan.iterable_class = type(f"{serializer_class.__name__}Rows", (_RowsIterable,), {"paths": tuple(plan.paths)})
    rows = queryset.all()
    rows._iterable_class = plan.iterable_class
    return rows


def _represent_row(steps: list[tuple], row: tuple, serializer: object, method_columns: dict[str, int]) -> dict:
    data = {}
    method_row = None
    for name, kind, index, convert in steps:
        if kind == FAST:
            data[name] = row[index]
        elif kind == CONVERT:
            value = row[index]
            data[name] = None if value is None else convert(value)
        elif kind == DISPLAY:
            data[name] = convert(row[index])
        elif kind == NESTED:
            data[name] = _represent_row(index, row, serializer, method_columns)
        else:  # METHOD
            if method_row is None:
                method_row = _method_row(row, method_columns)
            data[name] = getattr(serializer, index)(method_row)
    return data


def _method_row(row: tuple, method_columns: dict[str, int]) -> _Row:
    top = _Row()
    for source, index in method_columns.items():
        target = top
        *links, attr = source.split("__")
        for link in links:
            inner = target.__dict__.get(link)
            if inner is None:
                inner = target.__dict__[link] = _Row()
            target = inner
        target.__dict__[attr] = row[index]
    return top
