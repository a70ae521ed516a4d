"""The admin index's dashboard, as an inclusion tag so the stock admin site keeps its own index view."""

from django import template

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
