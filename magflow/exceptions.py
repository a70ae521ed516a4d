"""One error shape for every API failure: {"error": {"code", "message", "details"}}.

DRF errors go through `api_exception_handler` (settings REST_FRAMEWORK["EXCEPTION_HANDLER"]);
errors Django raises before or outside a DRF view (an unknown /api/ URL, a crash) go through the
`handler*` views below, which answer JSON for /api/ paths and Django's own pages elsewhere.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response

API_PREFIX = "/api/"


class ApiError(exceptions.APIException):
    """An API refusal with its own code, message and details (a 409 conflict, a 413, ...)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "error"
    default_detail = "The request could not be completed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: object = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message or self.default_detail, code or self.default_code)
        if status_code is not None:
            self.status_code = status_code
        self.details = details


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class RequestTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def error_body(code: str, message: str, details: object = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details}}


def _describe(exc: exceptions.APIException) -> tuple[str, str, object]:
    """The (code, message, details) of a DRF exception."""
    if isinstance(exc, ApiError):
        return exc.get_codes(), str(exc.detail), exc.details
    if isinstance(exc, exceptions.ValidationError):
        details = exc.detail
        if isinstance(details, list):
            details = {"non_field_errors": details}
        return "invalid", "The request is not valid; see details for each field.", details
    if isinstance(exc, exceptions.Throttled):
        return "throttled", str(exc.detail), {"wait_seconds": exc.wait}
    detail = exc.detail
    if isinstance(detail, dict):
        # simplejwt's InvalidToken: {"detail": ..., "code": ..., "messages": [...]}
        code = str(detail.get("code") or exc.default_code)
        message = str(detail.get("detail") or exc.default_detail)
        messages = detail.get("messages")
        details = [{key: str(value) for key, value in item.items()} for item in messages] if messages else None
        return code, message, details
    if isinstance(detail, list):
        return exc.default_code, "; ".join(str(item) for item in detail), None
    code = getattr(detail, "code", None) or exc.default_code
    return str(code), str(detail), None


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, with the answer rewritten into MagFlow's error shape."""
    # Imported here: DRF loads magflow.api (which imports this module) while it defines its views.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler500 answers (and logs it)
    code, message, details = _describe(exc)
    response.data = error_body(code, message, details)
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception, template_name: str = "400.html") -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "The request is malformed."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception, template_name: str = "403.html") -> HttpResponse:
    if _is_api(request):
        message = "You do not have permission to perform this action."
        return JsonResponse(error_body("permission_denied", message), status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception, template_name: str = "404.html") -> HttpResponse:
    if _is_api(request):
        message = f"No API endpoint at {request.path}."
        return JsonResponse(error_body("not_found", message), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    if _is_api(request):
        message = "An unexpected error occurred. It has been logged."
        return JsonResponse(error_body("server_error", message), status=500)
    return defaults.server_error(request)
