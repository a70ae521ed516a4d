"""The OpenAPI schema class: drf-spectacular's, plus the error answers every operation can give."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

from magflow.api import ErrorSerializer

ERROR_DESCRIPTIONS = {
    "400": "The input is not valid (body or query parameters); `details` says what is wrong with each field.",
    "401": "No valid credentials: the access token is missing, expired or tampered with.",
    "403": "Authenticated, but the user's role does not grant this action.",
    "404": "Nothing at this address (or the page number is past the end).",
    "413": "The request body is too large.",
    "429": "Too many requests: throttled (see `details.wait_seconds`), or the login is locked out.",
    "500": "An unexpected error; it has been logged.",
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema, plus the error answers each operation can give, all in the one shape."""

    def _error_codes(self) -> list[str]:
        codes = ["429", "500"]
        is_public = any(isinstance(permission, AllowAny) for permission in self.view.get_permissions())
        if not is_public:
            codes += ["401", "403"]
        if self.method in ("POST", "PUT", "PATCH"):
            codes += ["400", "413"]
        if any(parameter.get("in") == "query" for parameter in self._get_parameters()):
            codes += ["400"]  # query parameters are validated
        if "{" in self.path or (self.method == "GET" and self._get_paginator() and self._is_list_view()):
            codes += ["404"]
        return sorted(set(codes))

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                response = OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses


class JWTScheme(SimpleJWTScheme):
    """Our JWTAuthentication (accounts/authentication.py) is simplejwt's: the same bearer scheme in the schema."""

    target_class = "accounts.authentication.JWTAuthentication"
