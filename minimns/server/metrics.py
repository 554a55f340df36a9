"""``/_minimns/metrics``: the server's state and traffic in the Prometheus text format (0.0.4).

Gauges are read from the broker at scrape time (queue counts, push backlogs);
counters come from ``RequestMetrics``, which the app feeds once per request
(operation and resource, latency), and from the subscriptions' and the SMS
service's own totals. Label values are escaped as the format requires; each
family's samples form one group, as the format requires.
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


_PUSH_FAMILIES = (
    ("minimns_push_delivered_total", "counter", "Messages a subscription delivered.", "delivered"),
    ("minimns_push_attempts_total", "counter", "Push attempts, first tries and retries.", "attempts"),
    ("minimns_push_failures_total", "counter",
     "Push attempts that failed (each is retried or dropped).", "failures"),
    ("minimns_push_dropped_total", "counter",
     "Messages dropped after the retry strategy ran out.", "dropped"),
    ("minimns_push_pending", "gauge", "Deliveries waiting for or in an attempt now.", "pending"),
    ("minimns_push_retrying", "gauge", "Deliveries waiting for a later retry.", "retrying"),
)
SERIES_MAX = 5000  # request label sets kept; beyond it new ones count under resource="_other"


class RequestMetrics:
    """Per-operation request counts and one latency histogram (long polls included).

    The caller passes only operations the server has and resources that exist, and
    the number of label sets is capped, so a client cannot grow this without bound."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, int], int] = defaultdict(int)
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.count = 0
        self.total_seconds = 0.0

    def observe(self, operation: str, kind: str, resource: str, status: int, seconds: float) -> None:
        key = (operation, kind, resource, status)
        if key not in self.requests and len(self.requests) >= SERIES_MAX:
            key = (operation, kind, "_other", status)
        self.requests[key] += 1
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
    subscriptions = [(topic.name, sub.name, sub.stats())
                     for topic in list(broker.account.topics.values())
                     for sub in list(topic.subscriptions.values())]
    for name, metric_type, help_text, field in _PUSH_FAMILIES:
        for topic_name, sub_name, stats in subscriptions:  # one group per family
            out.metric(name, metric_type, help_text, getattr(stats, field),
                       topic=topic_name, subscription=sub_name)
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
