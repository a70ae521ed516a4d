"""The health score: 100 minus the penalty of every rule that fires, floor 0.

The first four rules are the ones users of the previous system know; the last two catch a sync
that silently stopped and a task queue nobody drains.
"""

from datetime import datetime, timedelta

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from monitoring import metrics

ERROR_RATE_LIMIT = 5.0  # % of the last 5 minutes' eMAG requests
RESPONSE_TIME_LIMIT_MS = 2000.0
RATE_LIMIT_USAGE_LIMIT = 80.0  # % of the per-minute limit
SYNC_SUCCESS_RATE_FLOOR = 95.0  # % of the last hour's finished syncs

PENALTIES = {
    "error_rate": 30,
    "response_time": 20,
    "rate_limit_usage": 20,
    "sync_success_rate": 30,
    "sync_overdue": 30,
    "queue_backlog": 20,
}


def status_for(score: int) -> str:
    if score >= 90:
        return "healthy"
    if score >= 70:
        return "degraded"
    if score >= 50:
        return "warning"
    return "critical"


def make_alert(rule: str, message: str, value: float | int | list, threshold: float | int) -> dict:
    return {
        "rule": rule,
        "severity": "critical" if PENALTIES[rule] >= 30 else "warning",
        "penalty": PENALTIES[rule],
        "message": message,
        "value": value,
        "threshold": threshold,
    }


def figure_alerts(calls: dict, syncs: dict, *, calls_scope: str, syncs_scope: str) -> list[dict]:
    """The four rules that read request and sync figures (the health score's first four, any window)."""
    alerts = []
    if calls["error_rate"] > ERROR_RATE_LIMIT:
        alerts.append(
            make_alert(
                "error_rate",
                f"eMAG error rate {calls_scope} is {calls['error_rate']} % "
                f"({calls['total_errors']} of {calls['total_requests']} requests), above {ERROR_RATE_LIMIT} %.",
                calls["error_rate"],
                ERROR_RATE_LIMIT,
            )
        )
    average = calls["average_response_time"]
    if average is not None and average > RESPONSE_TIME_LIMIT_MS:
        alerts.append(
            make_alert(
                "response_time",
                f"Average eMAG response time {calls_scope} is {average / 1000:.2f} s, above 2 s.",
                average,
                RESPONSE_TIME_LIMIT_MS,
            )
        )
    if calls["rate_limit_usage"] > RATE_LIMIT_USAGE_LIMIT:
        alerts.append(
            make_alert(
                "rate_limit_usage",
                f"Rate-limit usage {calls_scope} is {calls['rate_limit_usage']} % of the per-minute limit, "
                f"above {RATE_LIMIT_USAGE_LIMIT} %.",
                calls["rate_limit_usage"],
                RATE_LIMIT_USAGE_LIMIT,
            )
        )
    if syncs["success_rate"] < SYNC_SUCCESS_RATE_FLOOR:
        alerts.append(
            make_alert(
                "sync_success_rate",
                f"Sync success rate {syncs_scope} is {syncs['success_rate']} % "
                f"({syncs['successful_syncs']} of {syncs['successful_syncs'] + syncs['failed_syncs']}), "
                f"below {SYNC_SUCCESS_RATE_FLOOR} %.",
                syncs["success_rate"],
                SYNC_SUCCESS_RATE_FLOOR,
            )
        )
    return alerts


def evaluate(now: datetime | None = None) -> dict:
    """The health report: status, score, the figures the rules read, the alerts that fired, every account."""
    now = now or timezone.now()
    five_minutes = metrics.Span.ending_now(timedelta(minutes=5), now)
    last_hour = metrics.Span.ending_now(timedelta(hours=1), now)
    calls = metrics.api_call_figures(five_minutes)
    syncs = metrics.sync_figures(last_hour)
    freshness = metrics.overdue_accounts(now)
    queue = metrics.queue_figures(now)
    alerts = figure_alerts(calls, syncs, calls_scope="of the last 5 minutes", syncs_scope="of the last hour")
    overdue = [entry for entry in freshness if entry["is_overdue"]]
    if overdue:
        described = ", ".join(
            f"{entry['name']} ({entry['_age_minutes']:.0f} min, schedule {entry['sync_interval_minutes']} min)"
            for entry in overdue
        )
        alerts.append(
            make_alert(
                "sync_overdue",
                f"Last successful offer sync older than twice the schedule: {described}.",
                [entry["name"] for entry in overdue],
                2,
            )
        )
    oldest = queue["oldest_task_age_seconds"]
    if oldest is not None and oldest > queue["retry_seconds"]:
        alerts.append(
            make_alert(
                "queue_backlog",
                f"The task queue holds work waiting {oldest:.0f} s, longer than its retry window of "
                f"{queue['retry_seconds']} s: is a worker running?",
                oldest,
                queue["retry_seconds"],
            )
        )

    score = max(0, 100 - sum(alert["penalty"] for alert in alerts))
    per_account = []
    for entry in freshness:
        figures = metrics.api_call_figures(five_minutes, entry["id"])
        per_account.append(
            {
                **{key: value for key, value in entry.items() if not key.startswith("_")},
                "requests_last_5m": figures["total_requests"],
                "errors_last_5m": figures["total_errors"],
                "error_rate": figures["error_rate"],
                "average_response_time": figures["average_response_time"],
                "rate_limit_usage": figures["rate_limit_usage"],
                "sync_success_rate": metrics.sync_figures(last_hour, entry["id"])["success_rate"],
                "active_syncs": metrics.running_syncs(entry["id"]),
            }
        )
    return {
        "status": status_for(score),
        "health_score": score,
        "metrics": {
            "error_rate": calls["error_rate"],
            "total_requests": calls["total_requests"],
            "total_errors": calls["total_errors"],
            "average_response_time": calls["average_response_time"],
            "rate_limit_usage": calls["rate_limit_usage"],
            "sync_success_rate": syncs["success_rate"],
            "syncs_last_hour": syncs["successful_syncs"] + syncs["failed_syncs"],
            "overdue_accounts": len(overdue),
            "queued_tasks": queue["queued_tasks"],
            "oldest_task_age_seconds": queue["oldest_task_age_seconds"],
            "queue_retry_seconds": queue["retry_seconds"],
        },
        "alerts": alerts,
        "accounts": per_account,
        "timestamp": now,
    }


def database_problem() -> str | None:
    """None when the database answers a query, else why not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure means "not healthy", reported by class name
        return f"database unavailable ({exc.__class__.__name__})"
    return None


def unapplied_migrations() -> list[str]:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def queue_problem() -> str | None:
    """None when the task queue can be reached and its oldest waiting task is within the retry window."""
    try:
        queue = metrics.queue_figures()
    except Exception as exc:  # an unreachable broker is the finding itself
        return f"task queue unavailable ({exc.__class__.__name__})"
    oldest = queue["oldest_task_age_seconds"]
    if oldest is not None and oldest > queue["retry_seconds"]:
        return f"task queue holds a task waiting {oldest:.0f} s (retry window {queue['retry_seconds']} s)"
    return None
