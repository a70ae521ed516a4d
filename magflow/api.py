"""REST plumbing shared by every app: pagination, the body-size-limited JSON parser, the error body.

Nothing here imports DRF views: the settings name these classes, and DRF loads them while
defining APIView (the schema class lives in magflow/schema.py for that reason)."""

import io

from django.conf import settings
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser

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
