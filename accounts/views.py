"""JWT endpoints under /api/v1/auth/, in the shape the clients of the system we replace read."""

from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import update_last_login
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.serializers import LoginSerializer, LogoutSerializer, MeSerializer, RefreshSerializer, TokenPairSerializer
from magflow.api import ErrorSerializer, SizeLimitedFormParser, SizeLimitedJSONParser
from magflow.exceptions import ApiError

LOCKED_OUT_MESSAGE = "Too many failed login attempts. Try again in 15 minutes."


def token_pair(refresh: RefreshToken) -> dict:
    return {
        "access_token": str(refresh.access_token),
        "refresh_token": str(refresh),
        "token_type": "bearer",
        "expires_in": int(settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()),
    }


def _invalid_token(error: TokenError) -> exceptions.AuthenticationFailed:
    return exceptions.AuthenticationFailed(str(error), code="token_not_valid")


def _refresh_request(request) -> object:
    """The body, or, when it names no token, the bearer token of the Authorization header.

    Clients of the system we replace send the refresh token as `Authorization: Bearer <refresh>`.
    """
    data = request.data
    if isinstance(data, Mapping) and data.get("refresh_token"):
        return data
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip() and not data:
        return {"refresh_token": token.strip()}
    return data


class PublicAuthView(APIView):
    """Login and refresh: no authentication, so a stale Authorization header cannot get in the way."""

    authentication_classes = []
    permission_classes = [AllowAny]
    # The system we replace took JSON or a form (OAuth2 password style); its clients send either.
    parser_classes = [SizeLimitedJSONParser, SizeLimitedFormParser]

    def get_authenticate_header(self, request):
        # Without it DRF turns every 401 into a 403; a refused login or refresh is a 401.
        return 'Bearer realm="api"'


class LoginView(PublicAuthView):
    @extend_schema(
        tags=["auth"],
        summary="Log in with an e-mail address and a password",
        request=LoginSerializer,
        responses={
            200: TokenPairSerializer,
            401: OpenApiResponse(ErrorSerializer, description="Wrong e-mail address or password."),
            429: OpenApiResponse(
                ErrorSerializer, description="Locked out after 5 failures (per username and per address), or throttled."
            ),
        },
        auth=[],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The Django request, not DRF's wrapper: django-axes counts failures on it and flags a lockout there.
        django_request = request._request
        user = authenticate(
            request=django_request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        if user is None:
            if getattr(django_request, "axes_locked_out", False):
                raise ApiError(LOCKED_OUT_MESSAGE, code="login_locked", status_code=status.HTTP_429_TOO_MANY_REQUESTS)
            raise exceptions.AuthenticationFailed("Wrong e-mail address or password.", code="invalid_credentials")
        refresh = RefreshToken.for_user(user)
        update_last_login(None, user)
        return Response(token_pair(refresh))


class RefreshView(PublicAuthView):
    @extend_schema(
        tags=["auth"],
        summary="Exchange a refresh token for a new pair (the old refresh token stops working)",
        description=(
            "The refresh token goes in the body as `refresh_token`, or (as the system we replace took it) "
            "as `Authorization: Bearer <refresh token>` with an empty body."
        ),
        request=RefreshSerializer,
        responses={
            200: TokenPairSerializer,
            401: OpenApiResponse(
                ErrorSerializer, description="The refresh token is expired, tampered with, already used or revoked."
            ),
        },
        auth=[],
    )
    def post(self, request):
        serializer = RefreshSerializer(data=_refresh_request(request))
        serializer.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(serializer.validated_data["refresh_token"])
        except TokenError as error:
            raise _invalid_token(error)
        user = (
            get_user_model()
            .objects.filter(**{jwt_settings.USER_ID_FIELD: refresh.payload.get(jwt_settings.USER_ID_CLAIM)})
            .first()
        )
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("No active account for this token.", code="no_active_account")
        # Claim the old token by blacklisting it; of two requests racing with the same token,
        # only the one that inserts the blacklist row gets a new pair.
        with transaction.atomic():
            outstanding, _ = refresh.outstand()
            _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        if not created:
            raise exceptions.AuthenticationFailed("Token is blacklisted", code="token_not_valid")
        return Response(token_pair(RefreshToken.for_user(user)))


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        summary="Revoke a refresh token",
        request=LogoutSerializer,
        responses={204: OpenApiResponse(description="The refresh token is revoked.")},
    )
    def post(self, request):
        serializer = LogoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(serializer.validated_data["refresh_token"])
        except TokenError as error:
            raise exceptions.ValidationError({"refresh_token": [str(error)]})
        if str(refresh.payload.get(jwt_settings.USER_ID_CLAIM)) != str(request.user.pk):
            raise exceptions.ValidationError({"refresh_token": ["This refresh token belongs to another user."]})
        refresh.blacklist()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["auth"], summary="The logged-in user and role", responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)
