"""Prometheus exposition of the monitoring figures.

A custom collector reads the database at scrape time, so every process serving /metrics answers
the same numbers (no per-process registries to merge, as prometheus_client's multiprocess mode
would need). Counters are all-time totals: ApiCall rows plus the hourly rollups they were pruned into.
"""

from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from emag import ratelimit
from emag.models import SellerAccount
from monitoring import health, metrics

RULES = tuple(health.PENALTIES)


class MagFlowCollector:
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        names = dict(SellerAccount.objects.values_list("pk", "name"))
        report = health.evaluate(now)

        score = GaugeMetricFamily("magflow_health_score", "Health score, 0 to 100.")
        score.add_metric([], report["health_score"])
        yield score
        fired = {alert["rule"] for alert in report["alerts"]}
        rules = GaugeMetricFamily("magflow_health_rule_fired", "1 when the health rule fired.", labels=["rule"])
        for rule in RULES:
            rules.add_metric([rule], 1 if rule in fired else 0)
        yield rules

        requests = CounterMetricFamily(
            "magflow_emag_requests", "HTTP requests sent to eMAG, retries included.", labels=["account"]
        )
        errors = CounterMetricFamily("magflow_emag_errors", "eMAG requests that failed.", labels=["account"])
        throttled = CounterMetricFamily("magflow_emag_throttled", "eMAG requests answered 429.", labels=["account"])
        for account_id, totals in sorted(metrics.calls_total_by_account().items(), key=lambda item: item[0] or 0):
            label = [names.get(account_id, "none")]
            requests.add_metric(label, totals["requests"])
            errors.add_metric(label, totals["errors"])
            throttled.add_metric(label, totals["throttled"])
        yield requests
        yield errors
        yield throttled

        span = metrics.Span.ending_now(timedelta(minutes=5), now)
        per_minute = GaugeMetricFamily(
            "magflow_emag_requests_per_minute", "eMAG requests a minute over the last 5 minutes.", labels=["account"]
        )
        error_rate = GaugeMetricFamily(
            "magflow_emag_error_rate_percent", "% of eMAG requests that failed, last 5 minutes.", labels=["account"]
        )
        response = GaugeMetricFamily(
            "magflow_emag_response_time_seconds",
            "eMAG response time over the last 5 minutes.",
            labels=["account", "statistic"],
        )
        usage = GaugeMetricFamily(
            "magflow_rate_limit_usage_percent",
            "Busiest bucket's requests a minute over the last 5 minutes, as % of its limit.",
            labels=["account"],
        )
        for account_id, label in [(None, "all"), *sorted(names.items(), key=lambda item: item[1])]:
            figures = metrics.api_call_figures(span, account_id)
            per_minute.add_metric([label], figures["requests_per_minute"])
            error_rate.add_metric([label], figures["error_rate"])
            usage.add_metric([label], figures["rate_limit_usage"])
            for statistic in ("average", "median", "p95", "max"):
                value = figures[f"{statistic}_response_time"]
                if value is not None:
                    response.add_metric([label, statistic], value / 1000)
        yield per_minute
        yield error_rate
        yield response
        yield usage

        sync_rate = GaugeMetricFamily(
            "magflow_sync_success_rate_percent", "% of the last hour's finished syncs that succeeded."
        )
        sync_rate.add_metric([], report["metrics"]["sync_success_rate"])
        yield sync_rate
        last_sync = GaugeMetricFamily(
            "magflow_sync_last_success_timestamp_seconds",
            "When the account's last successful offer sync finished.",
            labels=["account"],
        )
        overdue = GaugeMetricFamily(
            "magflow_sync_overdue",
            "1 when the last successful offer sync is older than twice the schedule.",
            labels=["account"],
        )
        for entry in report["accounts"]:
            if entry["last_successful_sync_at"]:
                last_sync.add_metric([entry["name"]], entry["last_successful_sync_at"].timestamp())
            overdue.add_metric([entry["name"]], 1 if entry["is_overdue"] else 0)
        yield last_sync
        yield overdue

        queue = GaugeMetricFamily("magflow_task_queue_waiting", "Tasks waiting in the django-q2 queue.")
        queue.add_metric([], report["metrics"]["queued_tasks"] or 0)
        yield queue
        oldest = GaugeMetricFamily("magflow_task_queue_oldest_age_seconds", "Age of the oldest waiting task.")
        oldest.add_metric([], report["metrics"]["oldest_task_age_seconds"] or 0)
        yield oldest

        offers = GaugeMetricFamily("magflow_offers", "Offers in MagFlow by state.", labels=["account", "state"])
        for row in metrics.product_stats(now)["accounts"]:
            for state in ("total", "present", "active", "sellable", "out_of_stock"):
                offers.add_metric([row["account"], state], row[f"{state}_offers"])
        yield offers

        yield from self._rate_limiter(names)

    def _rate_limiter(self, names: dict[int, str]) -> Iterator[Metric]:
        families = {
            "requests": CounterMetricFamily(
                "magflow_rate_limiter_requests", "Slots granted since the last reset.", labels=["account", "bucket"]
            ),
            "waits": CounterMetricFamily(
                "magflow_rate_limiter_waits", "Requests that waited for a slot.", labels=["account", "bucket"]
            ),
            "wait_seconds": CounterMetricFamily(
                "magflow_rate_limiter_wait_seconds", "Time spent waiting for slots.", labels=["account", "bucket"]
            ),
            "throttled": CounterMetricFamily(
                "magflow_rate_limiter_throttled", "429 answers recorded.", labels=["account", "bucket"]
            ),
            "used_last_minute": GaugeMetricFamily(
                "magflow_rate_limiter_used_last_minute", "Slots used in the last minute.", labels=["account", "bucket"]
            ),
            "available_now": GaugeMetricFamily(
                "magflow_rate_limiter_available_now", "Requests that could go at once.", labels=["account", "bucket"]
            ),
        }
        for account_id, name in sorted(names.items(), key=lambda item: item[1]):
            for bucket, figures in ratelimit.stats(account_id)["buckets"].items():
                for key, family in families.items():
                    family.add_metric([name, bucket], figures[key])
        yield from families.values()


def render() -> tuple[bytes, str]:
    """The exposition body and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MagFlowCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
