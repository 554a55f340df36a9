"""The web console at ``/console``: MNS's console, locally (issue: learning MNS by watching it).

GET renders a page (pages.py); a form POSTs to the page it is on with
an ``action`` field, the action runs through the broker's public API (so it
is validated, journaled and behaves exactly as the SDK's request would), and
the same page is rendered again with the outcome: a confirmation, the
received messages, or the MNS / SMS error. Cross-site posts are refused (the
``Origin`` must be this server), and with access keys configured every page
needs HTTP Basic authentication with the key id and secret.
"""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import parse_qsl, unquote

from ...core.sms.account import SmsError
from ...errors import MNSError, QueueNotExist, TopicNotExist
from . import assets, pages
from ..access import developer_auth_ok, same_origin
from ..params import small_int
from ..dev.sms import overview as sms_overview

if TYPE_CHECKING:
    from ..app import Call, MNSApp
    from ..http import Response

__all__ = ["Console"]

PAGE_SIZE = 10  # subscriptions per page
_QUEUE_FIELDS = ("delay_seconds", "visibility_timeout", "maximum_message_size",
                 "message_retention_period", "polling_wait_seconds")


class _Form:
    def __init__(self, body: bytes) -> None:
        self.values = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    def text(self, name: str) -> str:
        return self.values.get(name, "").strip()

    def number(self, name: str) -> int | None:
        value = self.text(name)
        if value == "":
            return None
        number = small_int(value.removeprefix("-"), 0, 10**12)
        if number is None:
            raise _Refused(f"{name} should be a whole number, not {value[:20]!r}")
        return -number if value.startswith("-") else number

    def flag(self, name: str) -> bool:
        return self.values.get(name) == "true"


class _Refused(Exception):
    """A form value the console cannot even pass on."""


class Console:
    def __init__(self, app: "MNSApp") -> None:
        self.app = app

    @property
    def broker(self) -> Any:
        return self.app.broker

    async def handle(self, call: "Call") -> "Response":
        request = call.request
        if not developer_auth_ok(self.app, request):
            response = call.respond(401, b"Authentication required: the access key id and secret.",
                                    content_type="text/plain; charset=utf-8")
            response.headers.append(("WWW-Authenticate", 'Basic realm="minimns console"'))
            return response
        path = request.path.rstrip("/") or "/console"
        if path == "/console/static/console.css":
            return call.respond(200, assets.CSS.encode(), content_type="text/css; charset=utf-8")
        if path == "/console/static/console.js":
            return call.respond(200, assets.JS.encode(),
                                content_type="text/javascript; charset=utf-8")
        if path == "/console":
            response = call.respond(302, b"", content_type="text/plain")
            response.headers.append(("Location", "/console/queues"))
            return response
        parts = path.split("/")[2:]  # after "", "console"
        renderer = self._page(parts)
        if renderer is None:
            return self._html(call, 404, pages.page("Not found", "", "<p>No such page.</p>"))
        flash, error, extra = "", "", {}
        if request.method == "POST":
            if not same_origin(request.headers):
                return call.respond(403, b"Cross-site form posts are refused.",
                                    content_type="text/plain; charset=utf-8")
            form = _Form(request.body)
            try:
                flash, extra = await self._act(parts, form)
            except (MNSError, SmsError) as failure:
                error = f"{failure.code}: {failure.message}"
            except _Refused as refused:
                error = str(refused)
        elif request.method != "GET":
            return call.respond(405, b"GET or POST", content_type="text/plain")
        try:
            title, active, body = await renderer(call, **extra)
        except (QueueNotExist, TopicNotExist) as missing:
            if flash:  # just deleted: back to the list
                return await self._after_delete(call, parts, flash)
            title, active, body = "Not found", parts[0], f"<p>{escape(missing.message)}</p>"
        html = pages.page(title, active, body, flash=flash, error=error,
                                  virtual_clock=self.app.clock is not None, now_ms=self.broker.now())
        return self._html(call, 200, html)

    async def _after_delete(self, call: "Call", parts: list[str], flash: str) -> "Response":
        list_parts = parts[:1]
        renderer = self._page(list_parts)
        assert renderer is not None
        title, active, body = await renderer(call)
        html = pages.page(title, active, body, flash=flash,
                                  virtual_clock=self.app.clock is not None, now_ms=self.broker.now())
        return self._html(call, 200, html)

    @staticmethod
    def _html(call: "Call", status: int, html: str) -> "Response":
        response = call.respond(status, html.encode(), content_type="text/html; charset=utf-8")
        response.headers.append(("Cache-Control", "no-store"))
        return response

    # -- pages ------------------------------------------------------------------------------

    def _page(self, parts: list[str]) -> Callable[..., Awaitable[tuple[str, str, str]]] | None:
        if parts == ["queues"]:
            return self._queues
        if len(parts) == 2 and parts[0] == "queues":
            return lambda call, **extra: self._queue(call, unquote(parts[1]), **extra)
        if parts == ["topics"]:
            return self._topics
        if len(parts) == 2 and parts[0] == "topics":
            return lambda call, **extra: self._topic(call, unquote(parts[1]), **extra)
        if parts == ["sms"]:
            return self._sms
        if parts == ["clock"] and self.app.clock is not None:
            return self._clock
        return None

    async def _queues(self, call: "Call", **_: Any) -> tuple[str, str, str]:
        broker = self.broker
        metas = [await broker.get_queue(name).get_attributes() for name in list(broker.account.queues)]
        return "队列列表 Queues", "queues", pages.queues_page(metas, call.base_url)

    async def _queue(self, call: "Call", name: str, received: list | None = None,
                     received_deleted: bool = False, **_: Any) -> tuple[str, str, str]:
        meta = await self.broker.get_queue(name).get_attributes()
        state = self.broker.account.queues[name]
        messages = state.dump(self.broker.now(), 200)
        body = pages.queue_page(meta, messages, call.base_url, received, received_deleted,
                                state.dead_lettered)
        return f"队列 {name}", "queues", body

    async def _topics(self, call: "Call", **_: Any) -> tuple[str, str, str]:
        broker = self.broker
        metas = [await broker.get_topic(name).get_attributes() for name in list(broker.account.topics)]
        return "主题列表 Topics", "topics", pages.topics_page(metas, call.base_url)

    async def _topic(self, call: "Call", name: str, **_: Any) -> tuple[str, str, str]:
        topic = self.broker.get_topic(name)
        meta = await topic.get_attributes()
        query = call.request.query
        prefix = unquote(query.get("prefix", ""))
        state = self.broker.account.topics[name]
        names = sorted(n for n in state.subscriptions if n.startswith(prefix))
        page_count = max(1, math.ceil(len(names) / PAGE_SIZE))
        page_no = small_int(query.get("page", "1"), 1, page_count) or 1
        shown = []
        for sub_name in names[(page_no - 1) * PAGE_SIZE:page_no * PAGE_SIZE]:
            sub_state = state.subscriptions[sub_name]
            handle = topic.get_subscription(sub_name)
            shown.append((await handle.get_attributes(), handle.stats(),
                          sub_state.scheduled_retries(5)))
        body = pages.topic_page(meta, shown, prefix, page_no, page_count, call.base_url)
        return f"主题 {name}", "topics", body

    async def _sms(self, call: "Call", **_: Any) -> tuple[str, str, str]:
        sms = self.broker.sms
        body = pages.sms_page(sms_overview(self.broker), sms.service.records.recent(50),
                              sms.inboxes())
        return "短信 SMS", "sms", body

    async def _clock(self, call: "Call", **_: Any) -> tuple[str, str, str]:
        return "时钟 Clock", "clock", pages.clock_page(self.broker.now())

    # -- actions ----------------------------------------------------------------------------

    async def _act(self, parts: list[str], form: _Form) -> tuple[str, dict[str, Any]]:
        """Run the form's action; (confirmation, extra arguments for the page)."""
        action = form.text("action")
        broker = self.broker
        if parts == ["queues"] and action == "create":
            name = form.text("name")
            attributes = {k: form.number(k) for k in _QUEUE_FIELDS if form.number(k) is not None}
            await broker.create_queue(name, logging_enabled=form.flag("logging_enabled"), **attributes)
            return f"已创建队列 Created queue <b>{pages.html(name)}</b>", {}
        if parts and parts[0] == "queues" and action == "delete":
            name = form.text("queue")
            if not name:
                raise _Refused("which queue? (the form names none)")
            await broker.get_queue(name).delete()
            return f"已删除队列 Deleted queue <b>{pages.html(name)}</b>", {}
        if len(parts) == 2 and parts[0] == "queues":
            return await self._queue_action(unquote(parts[1]), action, form)
        if parts == ["topics"] and action == "create":
            name = form.text("name")
            await broker.create_topic(name, maximum_message_size=form.number("maximum_message_size"),
                                      logging_enabled=form.flag("logging_enabled"))
            return f"已创建主题 Created topic <b>{pages.html(name)}</b>", {}
        if parts and parts[0] == "topics" and action == "delete":
            name = form.text("topic")
            if not name:
                raise _Refused("which topic? (the form names none)")
            await broker.get_topic(name).delete()
            return f"已删除主题 Deleted topic <b>{pages.html(name)}</b>", {}
        if len(parts) == 2 and parts[0] == "topics":
            return await self._topic_action(unquote(parts[1]), action, form)
        if parts == ["sms"]:
            return await self._sms_action(action, form)
        if parts == ["clock"] and action == "advance":
            self.app.advance_clock(form.text("seconds"))
            return f"时钟前进 Advanced {pages.html(form.text('seconds'))} s", {}
        raise _Refused(f"unknown action {action!r}")

    async def _queue_action(self, name: str, action: str, form: _Form) -> tuple[str, dict[str, Any]]:
        queue = self.broker.get_queue(name)
        if action == "send":
            sent = await queue.send_message(form.values.get("body", ""),
                                            delay_seconds=form.number("delay_seconds"),
                                            priority=form.number("priority"))
            return f"已发送 Sent <code>{pages.html(sent.message_id)}</code>", {}
        if action == "receive":
            count = form.number("count") or 1
            try:
                got = await queue.batch_receive_message(count)
            except MNSError as error:
                if error.code != "MessageNotExist":
                    raise
                got = []
            if not got:
                return "没有可接收的消息 No message to receive (MessageNotExist)", {}
            deleted = form.flag("auto_delete")
            if deleted:
                await queue.batch_delete_message([m.receipt_handle for m in got])
            return f"已接收 Received {len(got)}", {"received": got, "received_deleted": deleted}
        if action == "peek":
            try:
                peeked = await queue.batch_peek_message(16)
            except MNSError as error:
                if error.code != "MessageNotExist":
                    raise
                return "没有可查看的消息 No message to peek (MessageNotExist)", {}
            listing = "".join(f"<li><code>{pages.html(m.message_id)}</code>: {pages.html(m.message_body)}</li>"
                              for m in peeked)
            return f"Peek: <ul>{listing}</ul>", {}
        if action == "delete_message":
            await queue.delete_message(form.text("handle"))
            return "已删除消息 Deleted the message", {}
        if action == "modify":
            changes = {k: form.number(k) for k in _QUEUE_FIELDS}
            await queue.set_attributes(logging_enabled=form.flag("logging_enabled"), **changes)
            return "已保存 Saved", {}
        raise _Refused(f"unknown action {action!r}")

    async def _topic_action(self, name: str, action: str, form: _Form) -> tuple[str, dict[str, Any]]:
        topic = self.broker.get_topic(name)
        if action == "publish":
            published = await topic.publish_message(form.values.get("body", ""),
                                                    message_tag=form.text("tag") or None)
            return f"已发布 Published <code>{pages.html(published.message_id)}</code>", {}
        if action == "subscribe":
            sub = form.text("subscription")
            await topic.subscribe(sub, form.text("endpoint"),
                                  notify_strategy=form.text("notify_strategy") or None,
                                  notify_content_format=form.text("notify_content_format") or None,
                                  filter_tag=form.text("filter_tag") or None)
            return f"已订阅 Subscribed <b>{pages.html(sub)}</b>", {}
        if action == "unsubscribe":
            sub = form.text("subscription")
            await topic.get_subscription(sub).unsubscribe()
            return f"已取消订阅 Unsubscribed <b>{pages.html(sub)}</b>", {}
        if action == "configure":
            await topic.set_attributes(maximum_message_size=form.number("maximum_message_size"),
                                       logging_enabled=form.flag("logging_enabled"))
            return "已保存 Saved", {}
        raise _Refused(f"unknown action {action!r}")

    async def _sms_action(self, action: str, form: _Form) -> tuple[str, dict[str, Any]]:
        sms = self.broker.sms
        if action == "reply":
            await sms.reply(form.text("number"), form.values.get("content", ""))
            return f"已回复 Replied from <b>{pages.html(form.text('number'))}</b>", {}
        if action == "lift":
            await sms.lift_threshold(form.text("kind"))
            return "已解除 Lifted", {}
        if action == "threshold":
            raw = form.text("threshold")
            value = {"unlimited": None, "不限": None, "closed": 0, "关闭发送": 0}.get(raw, raw)
            if isinstance(value, str):
                value = small_int(value, 0, 10**12)
                if value is None:
                    raise _Refused("a quota is a count, unlimited or closed")
            await sms.set_threshold(form.text("kind"), value)
            return "已设置 Set", {}
        if action == "create_rule":
            endpoints = [x.strip() for x in form.text("endpoints").split(",") if x.strip()]
            await sms.create_event_rule(form.text("rule"), form.text("event_type"),
                                        topic=form.text("topic") or None, endpoints=endpoints)
            return f"已创建规则 Created rule <b>{pages.html(form.text('rule'))}</b>", {}
        if action == "delete_rule":
            await sms.delete_event_rule(form.text("rule"))
            return f"已删除规则 Deleted rule <b>{pages.html(form.text('rule'))}</b>", {}
        raise _Refused(f"unknown action {action!r}")
