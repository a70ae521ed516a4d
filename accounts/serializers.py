from django.contrib.auth import get_user_model
from rest_framework import serializers


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=254, help_text="The user's e-mail address.")
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=4096)


class LogoutSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=4096, help_text="The refresh token to revoke.")


class TokenPairSerializer(serializers.Serializer):
    """The answer existing clients read after a login or a refresh."""

    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["bearer"])
    expires_in = serializers.IntegerField(help_text="Seconds until the access token expires.")


class MeSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="viewer, operator or admin; null for a user with no role.")
    permissions = serializers.SerializerMethodField(help_text="Every permission the user holds, as app.codename.")

    class Meta:
        model = get_user_model()
        fields = ["id", "email", "full_name", "role", "is_staff", "is_superuser", "permissions", "date_joined"]
        read_only_fields = fields

    def get_role(self, user) -> str | None:
        return user.role

    def get_permissions(self, user) -> list[str]:
        return sorted(user.get_all_permissions())
