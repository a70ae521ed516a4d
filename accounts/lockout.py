from django.http import JsonResponse
from django.shortcuts import render


def lockout_response(request, credentials, *args, **kwargs):
    """What a locked-out login gets: a clear 429, never "wrong password"."""
    message = "Too many failed login attempts. Try again in 15 minutes."
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "login_locked", "message": message, "details": None}}, status=429)
    return render(request, "admin/lockout.html", {"message": message}, status=429)
