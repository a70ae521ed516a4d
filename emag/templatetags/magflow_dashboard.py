"""The admin index's dashboard, as an inclusion tag so the stock admin site keeps its own index view."""

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from emag.dashboard import dashboard_context

register = template.Library()


@register.inclusion_tag("admin/emag/dashboard.html", takes_context=True)
def magflow_dashboard(context: template.Context) -> dict:
    request = context["request"]
    user = request.user
    if not user.has_perm("emag.view_selleraccount"):
        return {"can_view": False}
    return {
        "can_view": True,
        "can_sync": user.has_perm("emag.start_sync"),
        "can_view_queue": user.has_perm("django_q.view_schedule") or user.has_perm("django_q.view_failure"),
        "request": request,
        **dashboard_context(),
    }


@register.filter
def seconds(value: float | None) -> str:
    """A duration for people: 4.2 s, 3 min 05 s."""
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, rest = divmod(int(round(value)), 60)
    return f"{minutes} min {rest:02d} s"


@register.filter
def ago(value: datetime | None) -> str:
    """How long ago, in words; "just now" under a minute."""
    if value is None:
        return "—"
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value)} ago"
