"""System checks that keep a production MagFlow from starting with development secrets."""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.db import DatabaseError

DEV_JWT_KEY = "django-insecure-magflow-jwt-signing-key-change-me"


@register(Tags.security, deploy=False)
def check_production_secrets(app_configs=None, **kwargs):
    if settings.DEBUG:
        return []
    errors = []
    if not settings.SECRET_KEY or settings.SECRET_KEY == settings.INSECURE_SECRET_KEY:
        errors.append(
            Error(
                "SECRET_KEY is missing or is the development default, and DEBUG is off.",
                hint="Set SECRET_KEY in the environment to a long random value (see .env.example).",
                id="magflow.E001",
            )
        )
    if not [key for key in settings.MAGFLOW_ENCRYPTION_KEYS if key.strip()]:
        errors.append(
            Error(
                "MAGFLOW_ENCRYPTION_KEY is not set, and DEBUG is off: eMAG passwords would be "
                "encrypted with the public development key.",
                hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
                id="magflow.E002",
            )
        )
    if settings.SIMPLE_JWT["SIGNING_KEY"] in ("", DEV_JWT_KEY, settings.SECRET_KEY):
        errors.append(
            Error(
                "JWT_SIGNING_KEY is missing, the development default, or equal to SECRET_KEY, and DEBUG is off.",
                hint="Set JWT_SIGNING_KEY to a long random value of its own.",
                id="magflow.E004",
            )
        )
    return errors


@register(Tags.security, deploy=False)
def check_demo_admin_password(app_configs=None, **kwargs):
    """The demo administrator's documented password must not survive into production."""
    if settings.DEBUG:
        return []
    from django.contrib.auth import get_user_model

    try:
        user = get_user_model().objects.filter(email__iexact=settings.DEMO_ADMIN_EMAIL, is_active=True).first()
    except DatabaseError:
        return []  # no database yet (first migrate): nothing to refuse
    if user is not None and user.check_password(settings.DEMO_ADMIN_PASSWORD):
        return [
            Error(
                f"The demo administrator {settings.DEMO_ADMIN_EMAIL} still has the documented demo password, "
                "and DEBUG is off.",
                hint="Change it with: python manage.py changepassword " + settings.DEMO_ADMIN_EMAIL,
                id="magflow.E003",
            )
        ]
    return []
