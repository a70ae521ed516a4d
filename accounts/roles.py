"""The three roles, as Django groups with permissions, kept in step after every migrate."""

from django.contrib.auth.models import Group, Permission

from accounts.models import Role

VIEW_APPS = ("emag", "monitoring")
OPERATOR_CODENAMES = ("emag.start_sync", "emag.cancel_sync", "emag.test_connection")
ADMIN_APPS = ("emag", "monitoring", "accounts", "auth")


def _perms_of_apps(apps: tuple[str, ...], *, view_only: bool) -> list[Permission]:
    perms = Permission.objects.filter(content_type__app_label__in=apps)
    if view_only:
        perms = perms.filter(codename__startswith="view_")
    return list(perms)


def _perms_by_name(names: tuple[str, ...]) -> list[Permission]:
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
    return found


def sync_role_groups(**kwargs) -> None:
    """Create or update the viewer, operator and admin groups. Idempotent."""
    viewer = _perms_of_apps(VIEW_APPS, view_only=True)
    operator = viewer + _perms_by_name(OPERATOR_CODENAMES)
    admin = _perms_of_apps(ADMIN_APPS, view_only=False) + _perms_of_apps(("django_q",), view_only=False)
    for role, perms in ((Role.VIEWER, viewer), (Role.OPERATOR, operator), (Role.ADMIN, admin)):
        group, _ = Group.objects.get_or_create(name=role.value)
        group.permissions.set(perms)
