"""simplejwt's JWTAuthentication, reading the user and their permissions in one query on PostgreSQL.

Every API request authenticates (one query for the user) and then asks `user.has_perm` (a second
query, accounts/backends.py). Here the user's row and the union of their own and their groups'
permissions come from one statement: one round trip and one ORM compilation fewer per request,
about a tenth of a small API page's time. Nothing is kept across requests: a deactivated user, a
changed password or a role taken away counts on the next request, exactly as before. The checks
and the errors are simplejwt's own; other databases take simplejwt's lookup. On every database a
signed token whose user id is not a valid id is refused with a 401 (simplejwt would answer 500).
"""

import functools

from django.core.exceptions import ValidationError
from django.db import connections, router
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.backends import permission_ids_sql


@functools.cache
def _user_sql(user_model: type, id_field: str) -> tuple[str, list[str]]:
    """The SELECT of a user by `id_field`, their permissions ('app.codename', NULL for a superuser) last;
    and the names of the fields the other columns fill."""
    meta = user_model._meta
    quote_name = connections[router.db_for_read(user_model)].ops.quote_name
    columns = ", ".join(f"u.{quote_name(field.column)}" for field in meta.concrete_fields)
    permissions = (
        f"CASE WHEN u.{quote_name(meta.get_field('is_superuser').column)} THEN NULL ELSE ARRAY("
        f"SELECT ct.app_label || '.' || p.codename {permission_ids_sql(f'u.{quote_name(meta.pk.column)}')}) END"
    )
    where = f"u.{quote_name(meta.get_field(id_field).column)} = %s"
    sql = f"SELECT {columns}, {permissions} FROM {quote_name(meta.db_table)} u WHERE {where}"  # noqa: S608 - names from the model
    return sql, [field.attname for field in meta.concrete_fields]


class JWTAuthentication(SimpleJWTAuthentication):
    def get_user(self, validated_token: Token):
        # A signed token whose user id is not one (only our key can sign it) is refused like any bad
        # token, a 401; simplejwt's own lookup would raise a ValueError, a 500.
        id_field = self.user_model._meta.get_field(api_settings.USER_ID_FIELD)
        try:
            user_id = id_field.to_python(validated_token[api_settings.USER_ID_CLAIM])
        except (KeyError, ValidationError) as error:
            raise InvalidToken(_("Token contained no recognizable user identification")) from error
        database = router.db_for_read(self.user_model)
        connection = connections[database]
        if connection.vendor != "postgresql":
            return super().get_user(validated_token)
        # An id no user can have (None, beyond bigint) simply finds no row: "User not found", a 401.
        sql, names = _user_sql(self.user_model, api_settings.USER_ID_FIELD)
        with connection.cursor() as cursor:
            cursor.execute(sql, [user_id])
            row = cursor.fetchone()
        if row is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        user = self.user_model.from_db(database, names, row[:-1])

        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")

        if row[-1] is not None:
            user._perm_cache = set(row[-1])  # what accounts.backends.PermissionBackend would read
        return user
