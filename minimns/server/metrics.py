"""``/_minimns/metrics``: the server's state and traffic in the Prometheus text format (0.0.4).

Gauges are read from the broker at scrape time (queue counts, push backlogs);
counters come from ``RequestMetrics``, which the app feeds once per request
(operation and resource, latency), and from the subscriptions' and the SMS
service's own totals. Label values are escaped as the format requires; the
label sets are bounded by the queues, topics and operations that exist.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from typing import Any

__all__ = ["BUCKETS", "RequestMetrics", "render"]

# seconds; Prometheus' default latency buckets
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class RequestMetrics:
    """Per-operation request counts and one latency histogram (long polls included)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, int], int] = defaultdict(int)
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.count = 0
        self.total_seconds = 0.0

    def observe(self, operation: str, kind: str, resource: str, status: int, seconds: float) -> None:
        self.requests[(operation, kind, resource, status)] += 1
        self.buckets[bisect_left(BUCKETS, seconds)] += 1
        self.count += 1
        self.total_seconds += seconds


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._described: set[str] = set()

    def metric(self, name: str, metric_type: str, help_text: str, value: float,
               **labels: str) -> None:
        if name not in self._described:
            self._described.add(name)
            self.lines.append(f"# HELP {name} {help_text}")
            self.lines.append(f"# TYPE {name} {metric_type}")
        self.sample(name, value, **labels)

    def sample(self, name: str, value: float, **labels: str) -> None:
        inner = ",".join(f'{k}="{_label(str(v))}"' for k, v in labels.items())
        number = repr(float(value)) if isinstance(value, float) else str(value)
        self.lines.append(f"{name}{{{inner}}} {number}" if inner else f"{name} {number}")


def render(broker: Any, requests: RequestMetrics) -> str:
    """The exposition text (ends with a newline)."""
    out = _Writer()
    now = broker.now()
    for state in list(broker.account.queues.values()):
        meta = state.meta(now)
        for key, value in (("active", meta.active_messages), ("inactive", meta.inactive_messages),
                           ("delayed", meta.delay_messages)):
            out.metric("minimns_queue_messages", "gauge",
                       "Messages in a queue by state (active, inactive, delayed).",
                       value, queue=state.name, state=key)
    for topic in list(broker.account.topics.values()):
        for sub in list(topic.subscriptions.values()):
            stats = sub.stats()
            labels = {"topic": topic.name, "subscription": sub.name}
            out.metric("minimns_push_delivered_total", "counter",
                       "Messages a subscription delivered.", stats.delivered, **labels)
            out.metric("minimns_push_attempts_total", "counter",
                       "Push attempts, first tries and retries.", stats.attempts, **labels)
            out.metric("minimns_push_failures_total", "counter",
                       "Push attempts that failed (each is retried or dropped).",
                       stats.failures, **labels)
            out.metric("minimns_push_dropped_total", "counter",
                       "Messages dropped after the retry strategy ran out.", stats.dropped, **labels)
            out.metric("minimns_push_pending", "gauge",
                       "Deliveries waiting for or in an attempt now.", stats.pending, **labels)
            out.metric("minimns_push_retrying", "gauge",
                       "Deliveries waiting for a later retry.", stats.retrying, **labels)
    totals = broker.sms.service.records.totals
    for key, help_text in (("requests", "SMS accepted for sending (one per number)."),
                           ("delivered", "SMS the carrier delivered."),
                           ("failed", "SMS the carrier failed."),
                           ("rejected", "SMS numbers refused by the send rules.")):
        out.metric(f"minimns_sms_{'accepted' if key == 'requests' else key}_total", "counter",
                   help_text, totals[key])
    for (operation, kind, resource, status), count in sorted(requests.requests.items()):
        out.metric("minimns_requests_total", "counter",
                   "HTTP requests by operation, resource and status.", count,
                   operation=operation, kind=kind, resource=resource, status=str(status))
    name = "minimns_request_duration_seconds"
    out.lines.append(f"# HELP {name} Time to answer a request (long polls included).")
    out.lines.append(f"# TYPE {name} histogram")
    running = 0
    for bound, hits in zip(BUCKETS, requests.buckets):
        running += hits
        out.sample(f"{name}_bucket", running, le=repr(bound))
    out.sample(f"{name}_bucket", requests.count, le="+Inf")
    out.sample(f"{name}_sum", requests.total_seconds)
    out.sample(f"{name}_count", requests.count)
    return "\n".join(out.lines) + "\n"
