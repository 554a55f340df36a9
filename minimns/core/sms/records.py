"""Send records (短信发送记录) and daily statistics, kept 30 days.

What the seeds (docs/sms.md) fix (002, QuerySendDetails): a record per number per send with
its BizId, "SendStatus 1：等待回执，2：发送失败，3：发送成功", ErrCode, TemplateCode,
Content, SendDate, ReceiveDate and OutId; looked up by number and one day
("目前支持30天内发送记录的查询,可查询一天的发送数据"), optionally by BizId, with
"PageSize 页大小Max=50" and "CurrentPage". Records are pruned once 30 days
old (by send time), so memory is bounded by a month of sends.

Statistics count per Beijing day: ``requests`` (numbers accepted for
sending), ``delivered`` and ``failed`` (the carrier's verdicts, counted on the
day of the send, so a day's figures add up), and ``rejected`` (numbers the
rules refused before sending).
"""

from __future__ import annotations

from collections import deque
from dataclasses import astuple, dataclass
from typing import Any

from .account import SmsError
from .formats import day_text
from .calendar import DAY_MS, beijing_day

__all__ = [
    "DELIVERED",
    "FAILED",
    "PAGE_SIZE_MAX",
    "RETENTION_DAYS",
    "WAITING",
    "SendRecord",
    "SendRecords",
]

WAITING, FAILED, DELIVERED = 1, 2, 3
RETENTION_DAYS = 30
PAGE_SIZE_MAX = 50
_STAT_KEYS = ("requests", "delivered", "failed", "rejected")


@dataclass
class SendRecord:
    """One number of one send, as QuerySendDetails shows it."""

    biz_id: str
    phone_number: str
    sign_name: str
    template_code: str
    content: str  # as the handset shows it: 【signature】 and the rendered template
    out_id: str | None
    extend_code: str | None
    message_id: str  # the request's message id, for event messages
    send_time: int
    sms_size: int
    status: int = WAITING
    err_code: str = ""
    err_msg: str = ""
    receive_time: int | None = None


class SendRecords:
    def __init__(self) -> None:
        self._records: deque[SendRecord] = deque()  # in send order, for pruning
        self._by_key: dict[tuple[str, str], SendRecord] = {}  # (biz_id, number)
        self._by_number: dict[str, deque[SendRecord]] = {}
        self._stats: dict[int, dict[str, int]] = {}  # beijing day -> counts
        self.totals: dict[str, int] = dict.fromkeys(_STAT_KEYS, 0)  # since the start, for metrics

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: SendRecord) -> None:
        self._records.append(record)
        self._by_key[(record.biz_id, record.phone_number)] = record
        self._by_number.setdefault(record.phone_number, deque()).append(record)
        self.count(record.send_time, "requests")

    def get(self, biz_id: str, number: str) -> SendRecord | None:
        return self._by_key.get((biz_id, number))

    def conclude(self, record: SendRecord, now: int, err_code: str, err_msg: str,
               delivered: bool) -> None:
        """The carrier's verdict on a waiting record."""
        record.status = DELIVERED if delivered else FAILED
        record.err_code, record.err_msg = err_code, err_msg
        record.receive_time = now
        self.count(record.send_time, "delivered" if delivered else "failed")

    def count(self, now: int, key: str, n: int = 1) -> None:
        day = self._stats.get(beijing_day(now))
        if day is None:
            day = self._stats[beijing_day(now)] = dict.fromkeys(_STAT_KEYS, 0)
        day[key] += n
        self.totals[key] += n

    def prune(self, now: int) -> None:
        """Forget records (and statistics) older than 30 days."""
        horizon = now - RETENTION_DAYS * DAY_MS
        records = self._records
        while records and records[0].send_time < horizon:
            record = records.popleft()
            del self._by_key[(record.biz_id, record.phone_number)]
            mine = self._by_number[record.phone_number]
            mine.popleft()
            if not mine:
                del self._by_number[record.phone_number]
        oldest = beijing_day(horizon)
        for day in [d for d in self._stats if d < oldest]:
            del self._stats[day]

    def query(self, now: int, number: str, send_date: str, biz_id: str | None = None,
              page_size: int = 10, current_page: int = 1) -> tuple[int, list[SendRecord]]:
        """(total, one page) of ``number``'s records sent on ``send_date`` (yyyyMMdd,
        Beijing time, within the last 30 days), oldest first."""
        if not isinstance(page_size, int) or not 1 <= page_size <= PAGE_SIZE_MAX:
            raise _invalid(f"PageSize must be 1-{PAGE_SIZE_MAX}")
        if not isinstance(current_page, int) or current_page < 1:
            raise _invalid("CurrentPage must be at least 1")
        if len(send_date) != 8 or not send_date.isdigit():
            raise _invalid("SendDate must be yyyyMMdd")
        today = beijing_day(now)
        days = [today - back for back in range(RETENTION_DAYS)]
        wanted = next((d for d in days if day_text(d * DAY_MS) == send_date), None)
        if wanted is None:
            raise _invalid("SendDate must be within the last 30 days")
        self.prune(now)
        matching = [
            r for r in self._by_number.get(number, ())
            if beijing_day(r.send_time) == wanted and (biz_id is None or r.biz_id == biz_id)
        ]
        start = (current_page - 1) * page_size
        return len(matching), matching[start:start + page_size]

    def recent(self, limit: int = 50) -> list[SendRecord]:
        """The newest ``limit`` records of every number, newest first."""
        records = self._records
        return [records[-i] for i in range(1, min(limit, len(records)) + 1)]

    def by_number(self, number: str) -> list[SendRecord]:
        return list(self._by_number.get(number, ()))

    def statistics(self) -> dict[str, dict[str, int]]:
        """Counts per day (``yyyyMMdd``), oldest first."""
        return {day_text(day * DAY_MS): dict(counts) for day, counts in sorted(self._stats.items())}

    def export(self) -> dict[str, Any]:
        return {
            "records": [list(astuple(r)) for r in self._records],
            "stats": [[day, counts] for day, counts in self._stats.items()],
            "totals": self.totals,
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> SendRecords:
        records = cls()
        for values in data["records"]:
            record = SendRecord(*values)
            records._records.append(record)
            records._by_key[(record.biz_id, record.phone_number)] = record
            records._by_number.setdefault(record.phone_number, deque()).append(record)
        records._stats = {day: dict(counts) for day, counts in data["stats"]}
        records.totals.update(data.get("totals", {}))
        return records


def _invalid(message: str) -> SmsError:
    return SmsError("isv.INVALID_PARAMETERS", message, "isv.INVALID_PARAMETERS")
