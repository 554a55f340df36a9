"""SMS send thresholds (短信发送阈值), pure and deterministic.

Send thresholds (000, "短信发送阈值设置"; 001, "防盗刷"): a daily and a monthly
request count, each "不限" (None), a number, or "关闭发送" (0). "一旦发送请求量达到您的
设置阈值，将会停止发送短信" and "当到达阈值后，将停止短信发送，需要您进行手动解除": reaching
the threshold stops that dimension, and it stays stopped (also across midnight)
until ``lift`` or ``set_threshold``. A request that would go beyond the
threshold is refused whole and not counted. The code is the MNS one,
"InvalidQuota  Quota exceeds the limit.  短信发送阈值达到上限" (000); the seeds give no
isv.* code for thresholds, so the SendSms path uses isv.BUSINESS_LIMIT_CONTROL
(a choice; isv.AMOUNT_NOT_ENOUGH means 账户余额不足, a balance, not a threshold).
Alerts: "系统短信通知，每日最多20次" and "每日/月，短信通知上限为20条" with a "0/20" counter
per row of the console, so each dimension records at most 20 alerts per its own
period (the day row per day, the month row per month): one when the threshold is
reached and one per refused request after that. Days and months are Beijing
time (UTC+8), the calendar the console counts in.

Every method takes ``now`` in epoch milliseconds from the broker clock, so a test
can run a day of sends in milliseconds of virtual time. Time must not go backwards
between calls on one object (``ValueError``): the broker clock is monotonic and
the pruning relies on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .calendar import beijing_day, beijing_month

__all__ = [
    "ALERTS_PER_PERIOD",
    "THRESHOLD_ISV_CODE",
    "THRESHOLD_MNS_CODE",
    "THRESHOLD_MNS_MESSAGE",
    "SendThresholds",
    "ThresholdHit",
]

THRESHOLD_MNS_CODE = "InvalidQuota"
THRESHOLD_MNS_MESSAGE = "Quota exceeds the limit."
THRESHOLD_ISV_CODE = "isv.BUSINESS_LIMIT_CONTROL"
ALERTS_PER_PERIOD = 20

_PERIODS = ("day", "month")



@dataclass(frozen=True)
class ThresholdHit:
    """Why a send threshold refused a request."""

    kind: str  # "day" or "month"
    threshold: int
    count: int  # requests already counted in the period
    reason: str
    code: str = THRESHOLD_MNS_CODE
    message: str = THRESHOLD_MNS_MESSAGE
    isv_code: str = THRESHOLD_ISV_CODE


@dataclass
class _Dimension:
    threshold: int | None = None
    period: int | None = None  # beijing_day / beijing_month of the counts below
    count: int = 0
    stopped: bool = False
    alerts: int = 0  # alerts recorded in the period


def _period_of(kind: str, now: int) -> int:
    return beijing_day(now) if kind == "day" else beijing_month(now)


def _check_kind(kind: str) -> str:
    if kind not in _PERIODS:
        raise ValueError(f"threshold kind must be 'day' or 'month', not {kind!r}")
    return kind


def _check_threshold(threshold: int | None) -> int | None:
    if threshold is not None and threshold < 0:
        raise ValueError(f"threshold must be None, 0 or positive, not {threshold}")
    return threshold


class SendThresholds:
    """The account's daily and monthly request thresholds, their counts and alerts.

    ``alerts`` is the list of (time, kind, message) notifications the console would
    have sent, oldest first.
    """

    def __init__(self, day: int | None = None, month: int | None = None) -> None:
        self._dims = {
            "day": _Dimension(_check_threshold(day)),
            "month": _Dimension(_check_threshold(month)),
        }
        self.alerts: list[tuple[int, str, str]] = []
        self._last = -(2**63)
        self._day: int | None = None  # the Beijing day the periods were last rolled to

    def _roll(self, now: int) -> None:
        if now < self._last:
            raise ValueError(f"time went backwards: {now} < {self._last}")
        self._last = now
        day = beijing_day(now)
        if day == self._day:
            return  # the month changes only with the day
        self._day = day
        for kind, dim in self._dims.items():
            period = _period_of(kind, now)
            if dim.period != period:
                dim.period, dim.count, dim.alerts = period, 0, 0

    def _alert(self, now: int, kind: str, message: str) -> None:
        dim = self._dims[kind]
        if dim.alerts < ALERTS_PER_PERIOD:
            dim.alerts += 1
            self.alerts.append((now, kind, message))

    def threshold(self, kind: str) -> int | None:
        return self._dims[_check_kind(kind)].threshold

    def count(self, now: int, kind: str) -> int:
        """Requests counted in the current Beijing day or month."""
        self._roll(now)
        return self._dims[_check_kind(kind)].count

    def stopped(self, kind: str) -> bool:
        return self._dims[_check_kind(kind)].stopped

    def set_threshold(self, kind: str, threshold: int | None) -> None:
        """Change a threshold (the console's 设置); like ``lift``, it resumes sending."""
        dim = self._dims[_check_kind(kind)]
        dim.threshold = _check_threshold(threshold)
        dim.stopped = False

    def lift(self, kind: str) -> None:
        """The manual 解除: sending resumes, up to the threshold again."""
        self._dims[_check_kind(kind)].stopped = False

    def check(self, now: int, count_to_add: int = 1) -> ThresholdHit | None:
        """None if ``count_to_add`` more requests fit both thresholds, else the first
        that refuses them (day before month); a refusal after a threshold was reached
        records an alert. Counts nothing: call ``count_requests`` for an accepted request."""
        self._roll(now)
        for kind, dim in self._dims.items():
            if dim.threshold is None:
                continue
            if dim.threshold == 0:
                return ThresholdHit(kind, 0, dim.count, f"{kind} sending is closed (关闭发送)")
            if dim.stopped or dim.count + count_to_add > dim.threshold:
                reason = (
                    f"{kind} threshold {dim.threshold} reached, sending stopped until lifted "
                    "(短信发送阈值达到上限)"
                    if dim.stopped
                    else f"{dim.count} + {count_to_add} requests exceed the {kind} threshold "
                    f"{dim.threshold} (短信发送阈值达到上限)"
                )
                if dim.stopped:
                    self._alert(now, kind, reason)
                return ThresholdHit(kind, dim.threshold, dim.count, reason)
        return None

    def count_requests(self, now: int, count_to_add: int = 1) -> None:
        """Count accepted requests; reaching a threshold stops its dimension and alerts."""
        self._roll(now)
        for kind, dim in self._dims.items():
            dim.count += count_to_add
            if dim.threshold and not dim.stopped and dim.count >= dim.threshold:
                dim.stopped = True
                self._alert(
                    now,
                    kind,
                    f"{kind} requests reached the threshold {dim.threshold}: sending stopped",
                )

    def admit(self, now: int, count_to_add: int = 1) -> ThresholdHit | None:
        """``check``, and ``count_requests`` the requests when nothing refuses them."""
        hit = self.check(now, count_to_add)
        if hit is None:
            self.count_requests(now, count_to_add)
        return hit

    def export(self) -> dict[str, Any]:
        """Plain data for a snapshot."""
        return {
            "last": self._last,
            "alerts": [list(alert) for alert in self.alerts],
            "dimensions": {kind: asdict(dim) for kind, dim in self._dims.items()},
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> SendThresholds:
        """The inverse of ``export``."""
        dims = data["dimensions"]
        thresholds = cls()
        thresholds.alerts = [(now, kind, message) for now, kind, message in data["alerts"]]
        for kind in _PERIODS:
            thresholds._dims[kind] = _Dimension(**dims[kind])
        thresholds._last = data["last"]
        return thresholds
