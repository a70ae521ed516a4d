"""Role checks for the API: each view names the Django permissions every action needs.

Roles are groups of permissions (accounts/roles.py), so the API asks `user.has_perms`, exactly as
the admin does. An action a view forgot to list is refused (fail closed).
"""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

ROLE_HINTS = {
    "emag.start_sync": "operator",
    "emag.cancel_sync": "operator",
    "emag.test_connection": "operator",
}


def required_permissions(view: APIView, request: Request) -> tuple[str, ...] | None:
    """The permissions `view.required_permissions` asks for this action (viewsets) or method."""
    mapping = getattr(view, "required_permissions", {})
    key = getattr(view, "action", None) or request.method.lower()
    if key in mapping:
        return tuple(mapping[key])
    if request.method == "OPTIONS":
        return ()
    return None


def _is_unsupported_method(view: APIView, request: Request) -> bool:
    if hasattr(view, "action_map"):
        return view.action is None
    return request.method.lower() not in view.http_method_names or not hasattr(view, request.method.lower())


class HasActionPermission(BasePermission):
    """Authenticated, and holding every permission the view lists for the action."""

    message = "Your role does not allow this action."

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if _is_unsupported_method(view, request):
            return True  # DRF answers 405 Method Not Allowed, which says more than a 403
        perms = required_permissions(view, request)
        if perms is None:
            return False
        missing = [perm for perm in perms if not user.has_perm(perm)]
        if missing:
            role = ROLE_HINTS.get(missing[0], "viewer" if missing[0].split(".")[1].startswith("view_") else "admin")
            self.message = f"Your role does not allow this action (it needs {missing[0]}, held by the {role} role)."
            return False
        return True
