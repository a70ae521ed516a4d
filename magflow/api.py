"""REST plumbing shared by every app: pagination, the body-size-limited JSON parser, the error body.

Nothing here imports DRF views: the settings name these classes, and DRF loads them while
defining APIView (the schema class lives in magflow/schema.py for that reason)."""

import io
import math

import orjson
from django.conf import settings
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

from magflow.exceptions import RequestTooLarge


class Pagination(PageNumberPagination):
    """?page=N&page_size=M, M up to 200."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def read_limited(stream) -> io.BytesIO:
    """The body, if it is at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes; RequestTooLarge otherwise.

    DRF parsers read the request stream, which bypasses Django's own size check (that one
    only guards `request.body` and `request.POST`), so the limit is enforced here.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    data = stream.read(limit + 1) if limit is not None else stream.read()
    if limit is not None and len(data) > limit:
        raise RequestTooLarge(f"The request body is larger than {limit} bytes.", details={"limit_bytes": limit})
    return io.BytesIO(data)


class SizeLimitedJSONParser(JSONParser):
    """JSON bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE."""

    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(read_limited(stream), media_type, parser_context)


class SizeLimitedFormParser(FormParser):
    """URL-encoded form bodies up to DATA_UPLOAD_MAX_MEMORY_SIZE (the login of the system we replace took both)."""

    def parse(self, stream, media_type=None, parser_context=None):
        return super().parse(read_limited(stream), media_type, parser_context)


_ENCODER = JSONEncoder()
_PLAIN = frozenset({str, int, bool, type(None)})
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def is_finite_json(data: object) -> bool:
    """Whether `data` holds no NaN or infinite float (json.dumps refuses them; orjson writes null)."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, (list, tuple)):
            if isinstance(item, float) and not math.isfinite(item):
                return False
            continue  # anything else goes through _default_json, which checks what it returns
        for value in item:
            if type(value) not in _PLAIN:
                pending.append(value)
    return True


def _is_iterator(value: object) -> bool:
    try:
        return iter(value) is value
    except TypeError:
        return False


def _default_json(value: object) -> object:
    """What DRF's encoder makes of a value JSON has no type for (dates as DRF writes them, Decimal, lazy text)."""
    if _is_iterator(value):
        raise TypeError("an iterator")  # DRF's renderer must see it whole if orjson gave up later
    value = _ENCODER.default(value)
    if not is_finite_json(value):
        raise ValueError("Out of range float values")  # orjson would write null: DRF's renderer decides
    return value


class FastJSONRenderer(JSONRenderer):
    """DRF's JSONRenderer, written by orjson: ~10 times faster, and the same JSON.

    The same compact separators, UTF-8 text, U+2028/U+2029 escaped, dates, decimals and lazy text
    through DRF's own encoder. Whatever orjson would write differently is left to DRF's renderer,
    which then answers (or fails) as it always did: an indent asked for in Accept, non-default
    UNICODE_JSON or COMPACT_JSON settings, NaN or infinity (an error under STRICT_JSON), keys that are
    not strings, integers beyond 64 bits, text that is not valid Unicode. Floats may be spelled
    differently (1e16 for 1e+16): the same numbers.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if (
            self.ensure_ascii
            or not self.compact
            or self.encoder_class is not JSONEncoder
            or self.get_indent(accepted_media_type, renderer_context or {}) is not None
            or not is_finite_json(data)  # DRF refuses it (STRICT_JSON) or writes NaN; orjson would write null
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            body = orjson.dumps(data, default=_default_json, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:
            body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return body


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable, machine-readable code, such as not_found or invalid.")
    message = serializers.CharField(help_text="A sentence for people.")
    details = serializers.JSONField(
        allow_null=True, help_text="More about the error: for `invalid`, the messages of each field."
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx and 5xx answer."""

    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "Error"
