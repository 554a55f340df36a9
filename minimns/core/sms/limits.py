"""SMS frequency limits (短信发送频率限制) and send thresholds (短信发送阈值), pure and deterministic.

Every method takes ``now`` in epoch milliseconds from the broker clock, so a test
can run a day of sends in milliseconds of virtual time. Time must not go backwards
between calls on one object (``ValueError``): the broker clock is monotonic and
the pruning relies on it.

Frequency limits (seeds 000 and 001, "短信发送频率限制" / "限制说明"):

- "短信验证码：使用同一个签名，对同一个手机号码发送短信验证码，1条/分钟，5条/小时，10条/天";
- "短信通知：使用同一个签名和同一个短信模板ID，对同一个手机号码发送短信通知，支持50条/日",
  and the same 50 for "推广短信";
- "一个手机号码通过阿里云短信服务平台只能收到40条/天";
- "天的计算方式是是当下时间往后推24小时", so every window slides: a send at ``t``
  counts against a window ``w`` at ``now`` while ``now - t < w`` (a second code is
  refused 59 999 ms after the first and accepted at exactly 60 000 ms).

Only accepted sends are recorded; a refused one never counts. International
templates are subject only to the per-number 40 per day: the seeds (docs/sms.md) list limits
for codes, notifications and promotions only (a choice where they are silent).

The seeds give two codes for a frequency limit, one per API: the MNS path
("InvalidSendSms  Frequency limit reaches.  触发业务流控", 000) and the SendSms API
("isv.BUSINESS_LIMIT_CONTROL业务限流", 002 and 004). They have no per-window wording,
so ``LimitHit.reason`` names the window in English with the seeds' own 1条/分钟
style in parentheses, and ``isv_message`` is the service's own API wording
("触发分钟级流控Permits:1", 小时级 / 天级 likewise; not in the seeds).

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
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from .review import TemplateType

__all__ = [
    "ALERTS_PER_PERIOD",
    "BEIJING_OFFSET_MS",
    "DAY_MS",
    "FREQUENCY_ISV_CODE",
    "FREQUENCY_ISV_MESSAGE",
    "FREQUENCY_MNS_CODE",
    "FREQUENCY_MNS_MESSAGE",
    "HOUR_MS",
    "MINUTE_MS",
    "THRESHOLD_ISV_CODE",
    "THRESHOLD_MNS_CODE",
    "THRESHOLD_MNS_MESSAGE",
    "FrequencyLimits",
    "FrequencyWindows",
    "LimitHit",
    "SendThresholds",
    "ThresholdHit",
    "beijing_day",
    "beijing_month",
]

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
BEIJING_OFFSET_MS = 8 * HOUR_MS

FREQUENCY_MNS_CODE = "InvalidSendSms"
FREQUENCY_MNS_MESSAGE = "Frequency limit reaches."
FREQUENCY_ISV_CODE = "isv.BUSINESS_LIMIT_CONTROL"
FREQUENCY_ISV_MESSAGE = "业务限流"
THRESHOLD_MNS_CODE = "InvalidQuota"
THRESHOLD_MNS_MESSAGE = "Quota exceeds the limit."
THRESHOLD_ISV_CODE = "isv.BUSINESS_LIMIT_CONTROL"
ALERTS_PER_PERIOD = 20

_PERIODS = ("day", "month")


def beijing_day(now: int) -> int:
    """Days since 1970-01-01 in Beijing time: the day a send counts in."""
    return (now + BEIJING_OFFSET_MS) // DAY_MS


def beijing_month(now: int) -> int:
    """``year * 12 + month - 1`` of the Beijing calendar month of ``now``."""
    return _month_of_day(beijing_day(now))


@lru_cache(maxsize=64)
def _month_of_day(days: int) -> int:
    day = date(1970, 1, 1) + timedelta(days=days)
    return day.year * 12 + day.month - 1


# ---------------------------------------------------------------- frequency limits


@dataclass(frozen=True)
class FrequencyLimits:
    """How many sends each window allows; None is no limit, 0 allows none."""

    verification_per_minute: int | None = 1
    verification_per_hour: int | None = 5
    verification_per_day: int | None = 10
    template_per_day: int | None = 50
    number_per_day: int | None = 40


@dataclass(frozen=True)
class LimitHit:
    """Which frequency limit refused a send, with both APIs' codes and when it frees."""

    limit: str  # a FrequencyLimits field name
    allowed: int
    window_ms: int
    retry_at: int  # the first ``now`` at which this window alone would allow the send
    reason: str
    code: str = FREQUENCY_MNS_CODE
    message: str = FREQUENCY_MNS_MESSAGE
    isv_code: str = FREQUENCY_ISV_CODE
    isv_message: str = FREQUENCY_ISV_MESSAGE


_REASONS = {
    "verification_per_minute": "verification codes per number and signature per minute (条/分钟)",
    "verification_per_hour": "verification codes per number and signature per hour (条/小时)",
    "verification_per_day": "verification codes per number and signature per 24 hours (条/天)",
    "template_per_day": "messages per signature, template and number per 24 hours (条/日)",
    "number_per_day": "messages a number receives per 24 hours (一个手机号码…条/天)",
}

_Key = tuple[str, ...]
_WINDOW_WORDS = {MINUTE_MS: "分钟级", HOUR_MS: "小时级", DAY_MS: "天级"}


def _isv_message(window_ms: int, allowed: int) -> str:
    """The SendSms API's wording of a flow-control refusal, as the service words it
    ("触发分钟级流控Permits:1"; the seeds name only the code, 业务限流)."""
    return f"触发{_WINDOW_WORDS[window_ms]}流控Permits:{allowed}"


def _kind(kind: TemplateType | str) -> TemplateType:
    return kind if isinstance(kind, TemplateType) else TemplateType(kind)


def _keys(number: str, sign_name: str, template_code: str, kind: TemplateType) -> list[_Key]:
    """The windows a send counts in: its type's own key first, then the number's."""
    if kind is TemplateType.VERIFICATION:
        return [("code", number, sign_name), ("number", number)]
    if kind is TemplateType.INTERNATIONAL:
        return [("number", number)]
    return [("template", sign_name, template_code, number), ("number", number)]


class FrequencyWindows:
    """Accepted sends of the last 24 hours, per key, for the sliding-window limits.

    Each key holds a deque of send times (oldest first); a global deque of the
    sends in order drops each send from its keys once it is a day old, so memory
    is the sends of the last 24 hours and each send costs O(1) amortised.
    """

    def __init__(self, limits: FrequencyLimits | None = None) -> None:
        self.limits = limits if limits is not None else FrequencyLimits()
        self._sends: deque[tuple[int, str, str, str, str]] = deque()
        self._windows: dict[_Key, deque[int]] = {}
        self._last = -(2**63)

    def _advance(self, now: int) -> None:
        if now < self._last:
            raise ValueError(f"time went backwards: {now} < {self._last}")
        self._last = now
        sends = self._sends
        while sends and now - sends[0][0] >= DAY_MS:
            _, number, sign_name, template_code, kind = sends.popleft()
            for key in _keys(number, sign_name, template_code, TemplateType(kind)):
                window = self._windows[key]
                window.popleft()
                if not window:
                    del self._windows[key]

    def _hit(self, now: int, key: _Key, limit: str, window_ms: int) -> LimitHit | None:
        allowed = getattr(self.limits, limit)
        if allowed is None:
            return None
        times = self._windows.get(key, ())
        if allowed == 0:
            return LimitHit(limit, 0, window_ms, now, _REASONS[limit],
                            isv_message=_isv_message(window_ms, 0))
        if len(times) < allowed:
            return None
        nth_newest = times[-allowed]
        if now - nth_newest >= window_ms:
            return None
        return LimitHit(limit, allowed, window_ms, nth_newest + window_ms, _REASONS[limit],
                        isv_message=_isv_message(window_ms, allowed))

    def check(
        self,
        now: int,
        number: str,
        sign_name: str,
        template_code: str,
        kind: TemplateType | str,
    ) -> LimitHit | None:
        """The first limit this send would break (type limits before the number's), or None."""
        self._advance(now)
        kind = _kind(kind)
        if kind is TemplateType.VERIFICATION:
            key = ("code", number, sign_name)
            for limit, window_ms in (
                ("verification_per_minute", MINUTE_MS),
                ("verification_per_hour", HOUR_MS),
                ("verification_per_day", DAY_MS),
            ):
                hit = self._hit(now, key, limit, window_ms)
                if hit is not None:
                    return hit
        elif kind is not TemplateType.INTERNATIONAL:
            key = ("template", sign_name, template_code, number)
            hit = self._hit(now, key, "template_per_day", DAY_MS)
            if hit is not None:
                return hit
        return self._hit(now, ("number", number), "number_per_day", DAY_MS)

    def record(
        self,
        now: int,
        number: str,
        sign_name: str,
        template_code: str,
        kind: TemplateType | str,
    ) -> None:
        """Count an accepted send (whether or not it was checked first)."""
        self._advance(now)
        kind = _kind(kind)
        self._sends.append((now, number, sign_name, template_code, kind.value))
        for key in _keys(number, sign_name, template_code, kind):
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = deque()
            window.append(now)

    def admit(
        self,
        now: int,
        number: str,
        sign_name: str,
        template_code: str,
        kind: TemplateType | str,
    ) -> LimitHit | None:
        """``check``, and ``record`` the send when nothing refuses it."""
        hit = self.check(now, number, sign_name, template_code, kind)
        if hit is None:
            self.record(now, number, sign_name, template_code, kind)
        return hit

    def __len__(self) -> int:
        """Sends still held (those of the last 24 hours as of the latest call)."""
        return len(self._sends)

    def export(self) -> dict[str, Any]:
        """Plain data for a snapshot: the limits and the held sends, oldest first."""
        return {
            "limits": asdict(self.limits),
            "last": self._last,
            "sends": [list(send) for send in self._sends],
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> FrequencyWindows:
        """The inverse of ``export``."""
        windows = cls(FrequencyLimits(**data["limits"]))
        for now, number, sign_name, template_code, kind in data["sends"]:
            windows.record(now, number, sign_name, template_code, kind)
        windows._last = max(windows._last, data["last"])
        return windows


# ---------------------------------------------------------------- send thresholds


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
        records an alert. Counts nothing: call ``record`` for an accepted request."""
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

    def record(self, now: int, count_to_add: int = 1) -> None:
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
        """``check``, and ``record`` the requests when nothing refuses them."""
        hit = self.check(now, count_to_add)
        if hit is None:
            self.record(now, count_to_add)
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
