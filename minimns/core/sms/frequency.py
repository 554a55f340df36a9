"""SMS frequency limits (短信发送频率限制), pure and deterministic.

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

Every method takes ``now`` in epoch milliseconds from the broker clock, so a test
can run a day of sends in milliseconds of virtual time. Time must not go backwards
between calls on one object (``ValueError``): the broker clock is monotonic and
the pruning relies on it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from .calendar import DAY_MS, HOUR_MS, MINUTE_MS
from .review import TemplateType

__all__ = [
    "FREQUENCY_ISV_CODE",
    "FREQUENCY_ISV_MESSAGE",
    "FREQUENCY_MNS_CODE",
    "FREQUENCY_MNS_MESSAGE",
    "FrequencyLimits",
    "FrequencyWindows",
    "LimitHit",
]

FREQUENCY_MNS_CODE = "InvalidSendSms"
FREQUENCY_MNS_MESSAGE = "Frequency limit reaches."
FREQUENCY_ISV_CODE = "isv.BUSINESS_LIMIT_CONTROL"
FREQUENCY_ISV_MESSAGE = "业务限流"



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

    def count_send(
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
        """``check``, and ``count_send`` the send when nothing refuses it."""
        hit = self.check(now, number, sign_name, template_code, kind)
        if hit is None:
            self.count_send(now, number, sign_name, template_code, kind)
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
            windows.count_send(now, number, sign_name, template_code, kind)
        windows._last = max(windows._last, data["last"])
        return windows
