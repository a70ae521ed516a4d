"""simplejwt's JWTAuthentication, reading the user and their permissions in one query on PostgreSQL.

Every API request authenticates (one query for the user) and then asks `user.has_perm` (a second
query, accounts/backends.py). Here the user's row and the union of their own and their groups'
permissions come from one statement: one round trip and one ORM compilation fewer per request,
about a tenth of a small API page's time. Nothing is kept across requests: a deactivated user, a
changed password or a role taken away counts on the next request, exactly as before. The checks
and the errors are simplejwt's own; other databases take simplejwt's lookup. On every database a
signed token whose user id is not a valid id is refused with a 401 (simplejwt would answer 500).
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.authentication import JWTAuthentication as SimpleJWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from accounts.backends import permission_ids_sql


def _user_sql() -> tuple[str, list[str]]:
    """The SELECT of a user's columns by id, with their permissions ('app.codename') last; and the column names."""
    user_model = get_user_model()
    table = user_model._meta.db_table
    columns = [field.column for field in user_model._meta.concrete_fields]
    lookup = user_model._meta.get_field(api_settings.USER_ID_FIELD).column
    selected = ", ".join(f'u."{column}"' for column in columns)
    permissions = (
        "CASE WHEN u.is_superuser THEN NULL ELSE ARRAY("  # a superuser holds every permission without a lookup
        f"SELECT ct.app_label || '.' || p.codename {permission_ids_sql('u.id')}) END"
    )
    return f'SELECT {selected}, {permissions} FROM {table} u WHERE u."{lookup}" = %s', [  # noqa: S608 - names from the model
        field.attname for field in user_model._meta.concrete_fields
    ]


class JWTAuthentication(SimpleJWTAuthentication):
    def get_user(self, validated_token: Token):
        # A signed token whose user id is not one (only our key can sign it) is refused like any bad
        # token, a 401; simplejwt's own lookup would raise a ValueError, a 500.
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
            self.user_model._meta.get_field(api_settings.USER_ID_FIELD).to_python(user_id)
        except (KeyError, ValidationError) as error:
            raise InvalidToken(_("Token contained no recognizable user identification")) from error
        database = router.db_for_read(self.user_model)
        if connections[database].vendor != "postgresql" or self.user_model is not get_user_model():
            return super().get_user(validated_token)
        user_id = self.user_model._meta.get_field(api_settings.USER_ID_FIELD).to_python(user_id)

        sql, names = _user_sql()
        with connections[database].cursor() as cursor:
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
