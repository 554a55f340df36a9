"""The console's HTML: one function per page, plain server-rendered markup.

Pages follow the MNS console the seeds (docs/sms.md) walk through (000): the queue list
with 消息保存时长 / 消息延迟时间 / active, inactive and delayed counts / created and
modified times / logging and the actions modify, delete, get address, send,
receive and peek; the topic list and a topic's subscriptions; the SMS overview.
Regions marked ``data-live`` (with an id) are refreshed in place by
console.js every second, so counts move while the page is open; forms stay
outside them so typing is never disturbed. Everything is escaped here.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timezone
from html import escape
from typing import Any, Iterable

from ...core.sms.thresholds import ALERTS_PER_PERIOD

__all__ = ["page", "queues_page", "queue_page", "topics_page", "topic_page", "sms_page",
           "clock_page", "when"]


def when(ms: int | None) -> str:
    """Epoch ms as UTC wall time, as the console shows times."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: int) -> str:
    if value % 86400 == 0:
        return f"{value // 86400} 天 ({value} s)"
    if value % 3600 == 0:
        return f"{value // 3600} 小时 ({value} s)"
    return f"{value} s"


def html(value: object) -> str:
    """``value`` as text safe anywhere in a page, attribute values included."""
    return escape(str(value), quote=True)


def _rows(rows: Iterable[Iterable[str]]) -> str:
    return "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)


def _table(table_id: str, headers: list[str], rows: Iterable[Iterable[str]], live: bool = True) -> str:
    body = _rows(rows) or f'<tr><td colspan="{len(headers)}" class="empty">(none)</td></tr>'
    attr = f' id="{table_id}" data-live' if live else f' id="{table_id}"'
    head = "".join(f"<th>{h}</th>" for h in headers)
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody{attr}>{body}</tbody></table>'


def button(action: str, label: str, fields: dict[str, str] | None = None, danger: bool = False,
           confirm: str | None = None) -> str:
    """A one-button form posting ``action`` (and hidden ``fields``) to the page itself."""
    hidden = "".join(f'<input type="hidden" name="{html(k)}" value="{html(v)}">'
                     for k, v in (fields or {}).items())
    ask = f' data-confirm="{html(confirm)}"' if confirm else ""
    cls = ' class="danger"' if danger else ""
    return (f'<form method="post" class="inline"{ask}><input type="hidden" name="action" '
            f'value="{html(action)}">{hidden}<button{cls} type="submit">{html(label)}</button></form>')


def page(title: str, active: str, body: str, *, flash: str = "", error: str = "",
         virtual_clock: bool = False, now_ms: int = 0) -> str:
    nav = [("queues", "队列 Queues"), ("topics", "主题 Topics"), ("sms", "短信 SMS")]
    if virtual_clock:
        nav.append(("clock", "时钟 Clock"))
    links = "".join(
        f'<a href="/console/{key}"{" class=active" if key == active else ""}>{label}</a>'
        for key, label in nav
    )
    notes = ""
    if flash:
        notes += f'<div class="flash" role="status">{flash}</div>'
    if error:
        notes += f'<div class="error" role="alert">{html(error)}</div>'
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{html(title)} · minimns</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/console/static/console.css">
<script src="/console/static/console.js" defer></script></head>
<body><header><span class="brand">minimns 消息服务</span><nav>{links}</nav>
<span class="now" id="clock-now" data-live>{when(now_ms)} UTC</span></header>
<main><h1>{html(title)}</h1>{notes}{body}</main></body></html>"""


def _address_and_delete(base_url: str, kind: str, name: str) -> str:
    """A list row's last actions: 获取地址 (the endpoint URL) and 删除."""
    return (f'<details class="address"><summary>获取地址 Address</summary>'
            f'<code>{html(base_url)}/{kind}s/{html(name)}</code></details> · '
            + button("delete", "删除 Delete", {kind: name}, danger=True,
                     confirm=f"Delete {kind} {name}?"))


# ---------------------------------------------------------------- queues


def queues_page(metas: list[Any], base_url: str) -> str:
    rows = []
    for m in metas:
        link = f'/console/queues/{html(m.queue_name)}'
        rows.append([
            f'<a href="{link}">{html(m.queue_name)}</a>',
            _seconds(m.message_retention_period),
            f"{m.delay_seconds} s",
            f'<span class="n">{m.active_messages}</span>',
            f'<span class="n">{m.inactive_messages}</span>',
            f'<span class="n">{m.delay_messages}</span>',
            when(m.create_time * 1000),
            when(m.last_modify_time * 1000),
            "开启" if m.logging_enabled else "关闭",
            _dlq_cell(m),
            f'<a href="{link}#modify">修改 Modify</a> · <a href="{link}#send">发送 Send</a> · '
            f'<a href="{link}#receive">接收 Receive</a> · <a href="{link}#peek">Peek</a> · '
            + _address_and_delete(base_url, "queue", m.queue_name),
        ])
    table = _table("queue-table", ["队列名称 Name", "消息保存时长 Retention", "消息延迟 Delay",
                                   "活跃 Active", "非活跃 Inactive", "延迟 Delayed",
                                   "创建时间 Created", "修改时间 Modified", "日志 Logging",
                                   "死信 Dead-letter", "操作 Actions"], rows)
    create = """<section class="card"><h2>创建队列 Create queue</h2>
<form method="post" class="fields"><input type="hidden" name="action" value="create">
<label>队列名称 Name <input name="name" required pattern="[A-Za-z0-9][A-Za-z0-9-]{0,119}"></label>
<label>消息延迟 DelaySeconds <input name="delay_seconds" type="number" min="0" max="604800" value="0"></label>
<label>取出消息隐藏时长 VisibilityTimeout <input name="visibility_timeout" type="number" min="1" max="43200" value="30"></label>
<label>消息最大长度 MaximumMessageSize <input name="maximum_message_size" type="number" min="1024" max="65536" value="65536"></label>
<label>消息保存时长 MessageRetentionPeriod <input name="message_retention_period" type="number" min="60" max="604800" value="345600"></label>
<label>长轮询等待 PollingWaitSeconds <input name="polling_wait_seconds" type="number" min="0" max="30" value="0"></label>
<label><input type="checkbox" name="logging_enabled" value="true"> 日志 Logging</label>
<button type="submit">创建 Create</button></form></section>"""
    return table + create


def _message_rows(messages: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for m in messages:
        body = m["body"]
        rows.append([
            f'<code class="id">{html(m["message_id"])}</code>',
            f'<span class="state {html(m["state"])}">{html(m["state"])}</span>',
            f'<pre class="body">{html(body)}</pre>',
            f'<details><summary>base64 · MD5</summary><code>{html(base64.b64encode(body.encode()).decode())}'
            f'</code><br><code>{hashlib.md5(body.encode()).hexdigest().upper()}</code></details>',
            str(m["dequeue_count"]),
            str(m["priority"]),
            when(m["enqueue_time"]),
            when(m["first_dequeue_time"]),
            when(m["next_visible_time"]),
            f'<code class="handle">{html(m["receipt_handle"] or "-")}</code>',
        ])
    return rows


def _dlq_cell(meta: Any) -> str:
    policy = meta.dlq_policy
    if not policy.enabled:
        return "-"
    target = html(policy.dead_letter_target_queue)
    return f'→ <a href="/console/queues/{target}">{target}</a> ({policy.max_receive_count}×)'


def _dead_letters(meta: Any, messages: list[dict[str, Any]], dead_lettered: int) -> str:
    """The policy, how many messages it moved out, and how many dead letters this queue
    holds (messages moved in from another queue, known by their DLQSourceArn)."""
    policy = meta.dlq_policy
    held = sum(1 for m in messages if "DLQSourceArn" in m.get("system_properties", {}))
    if not policy.enabled and not dead_lettered and not held:
        return ""
    parts = []
    if policy.enabled:
        parts.append(f'死信策略 Dead-letter policy: after <b id="max-receive-count">'
                     f'{policy.max_receive_count}</b> receives, to {_dlq_cell(meta)[2:]}')
    parts.append(f'转出 Moved out <b class="n" id="dead-lettered">{dead_lettered}</b>')
    if held:
        parts.append(f'死信 Dead letters held <b class="n" id="dead-letters-held">{held}</b>')
    return f'<p class="counts" id="dlq">{" · ".join(parts)}</p>'


def queue_page(meta: Any, messages: list[dict[str, Any]], base_url: str,
               received: list[Any] | None = None, received_deleted: bool = False,
               dead_lettered: int = 0) -> str:
    name = meta.queue_name
    counts = (f'<p class="counts" id="queue-counts" data-live>活跃 Active <b class="n" id="active">'
              f'{meta.active_messages}</b> · 非活跃 Inactive <b class="n" id="inactive">'
              f'{meta.inactive_messages}</b> · 延迟 Delayed <b class="n" id="delayed">'
              f'{meta.delay_messages}</b></p>')
    address = f'<p>获取地址 Address: <code id="address">{html(base_url)}/queues/{html(name)}</code></p>'
    out = counts + _dead_letters(meta, messages, dead_lettered) + address
    if received is not None:
        title = "已接收并删除 Received and deleted" if received_deleted else "已接收 Received"
        rows = [[f'<code class="id">{html(r.message_id)}</code>', f'<pre class="body">{html(r.message_body)}</pre>',
                 str(r.dequeue_count), when(r.next_visible_time),
                 f'<code class="handle">{html(r.receipt_handle)}</code>',
                 "-" if received_deleted else button("delete_message", "删除 Delete",
                                                     {"handle": r.receipt_handle})]
                for r in received]
        out += f'<section class="card" id="received"><h2>{title}</h2>' + _table(
            "received-table", ["MessageId", "Body", "DequeueCount", "NextVisibleTime", "ReceiptHandle",
                               ""], rows, live=False) + "</section>"
    out += ('<section class="card"><h2>消息 Messages</h2><p class="hint">Every message and its '
            'state, as the queue holds it (nothing is received to show it).</p>'
            + _table("message-table", ["MessageId", "状态 State", "Body", "base64 · MD5",
                                       "DequeueCount", "Priority", "EnqueueTime", "FirstDequeueTime",
                                       "NextVisibleTime", "ReceiptHandle"], _message_rows(messages))
            + "</section>")
    out += f"""<section class="card" id="send"><h2>发送消息 Send message</h2>
<form method="post" class="fields"><input type="hidden" name="action" value="send">
<label class="wide">消息内容 Body <textarea name="body" required rows="3"></textarea></label>
<label>延迟 DelaySeconds <input name="delay_seconds" type="number" min="0" max="604800" placeholder="{meta.delay_seconds}"></label>
<label>优先级 Priority <input name="priority" type="number" min="1" max="16" value="8"></label>
<button type="submit">发送 Send</button></form></section>
<section class="card" id="receive"><h2>接收消息 Receive messages</h2>
<form method="post" class="fields"><input type="hidden" name="action" value="receive">
<label>数量 Count <input name="count" type="number" min="1" max="16" value="1"></label>
<label><input type="checkbox" name="auto_delete" value="true"> 自动删除接收的消息 Delete received messages automatically</label>
<button type="submit">接收 Receive</button></form></section>
<section class="card" id="peek"><h2>Peek</h2>{button("peek", "Peek (查看不取出)")}</section>
<section class="card" id="modify"><h2>修改属性 Modify</h2>
<form method="post" class="fields"><input type="hidden" name="action" value="modify">
<label>DelaySeconds <input name="delay_seconds" type="number" min="0" max="604800" value="{meta.delay_seconds}"></label>
<label>VisibilityTimeout <input name="visibility_timeout" type="number" min="1" max="43200" value="{meta.visibility_timeout}"></label>
<label>MaximumMessageSize <input name="maximum_message_size" type="number" min="1024" max="65536" value="{meta.maximum_message_size}"></label>
<label>MessageRetentionPeriod <input name="message_retention_period" type="number" min="60" max="604800" value="{meta.message_retention_period}"></label>
<label>PollingWaitSeconds <input name="polling_wait_seconds" type="number" min="0" max="30" value="{meta.polling_wait_seconds}"></label>
<label><input type="checkbox" name="logging_enabled" value="true"{" checked" if meta.logging_enabled else ""}> Logging</label>
<button type="submit">保存 Save</button></form></section>
<section class="card">{button("delete", "删除队列 Delete queue", {"queue": name}, danger=True, confirm=f"Delete queue {name}?")}</section>"""
    return out


# ---------------------------------------------------------------- topics


def topics_page(metas: list[Any], base_url: str) -> str:
    rows = []
    for m in metas:
        link = f'/console/topics/{html(m.topic_name)}'
        rows.append([
            f'<a href="{link}">{html(m.topic_name)}</a>',
            f'<span class="n">{m.message_count}</span>',
            f"{m.maximum_message_size} B",
            _seconds(m.message_retention_period),
            when(m.create_time * 1000),
            f'<a href="{link}#configure">配置 Configure</a> · <a href="{link}#publish">发布 Publish</a>'
            f' · <a href="{link}#subscriptions">订阅列表 Subscriptions</a> · '
            + _address_and_delete(base_url, "topic", m.topic_name),
        ])
    table = _table("topic-table", ["主题名称 Name", "消息数 Messages", "消息最大长度 MaxSize",
                                   "消息保存时长 Retention", "创建时间 Created", "操作 Actions"], rows)
    create = """<section class="card"><h2>创建主题 Create topic</h2>
<form method="post" class="fields"><input type="hidden" name="action" value="create">
<label>主题名称 Name <input name="name" required pattern="[A-Za-z0-9][A-Za-z0-9-]{0,119}"></label>
<label>消息最大长度 MaximumMessageSize <input name="maximum_message_size" type="number" min="1024" max="65536" value="65536"></label>
<label><input type="checkbox" name="logging_enabled" value="true"> 日志 Logging</label>
<button type="submit">创建 Create</button></form></section>"""
    return table + create


def topic_page(meta: Any, subscriptions: list[tuple[Any, Any, list]], prefix: str, page_no: int,
               pages: int, base_url: str) -> str:
    name = meta.topic_name
    rows = []
    for sub_meta, stats, retries in subscriptions:
        upcoming = "<br>".join(f"{when(due)} (#{attempts + 1})" for due, _, attempts in retries[:3])
        rows.append([
            html(sub_meta.subscription_name),
            f'<code>{html(sub_meta.endpoint)}</code>',
            html(sub_meta.notify_strategy),
            html(sub_meta.notify_content_format),
            html(sub_meta.filter_tag or "-"),
            f'<span class="n delivered">{stats.delivered}</span>',
            f'<span class="n pending">{stats.pending}</span>',
            f'<span class="n retrying">{stats.retrying}</span>',
            f'<span class="n dropped">{stats.dropped}</span>',
            f'<span class="n attempts">{stats.attempts}</span>',
            f'<span class="last-error">{html(stats.last_error or "-")}</span>',
            f'<span class="next-retry">{upcoming or "-"}</span>',
            button("unsubscribe", "取消订阅 Unsubscribe", {"subscription": sub_meta.subscription_name},
                   danger=True),
        ])
    pager = " ".join(
        f'<a href="?prefix={html(prefix)}&amp;page={n}"{" class=active" if n == page_no else ""}>{n}</a>'
        for n in range(1, pages + 1)
    )
    search = (f'<form method="get" class="fields"><label>前缀搜索 Prefix <input name="prefix" '
              f'value="{html(prefix)}"></label><button type="submit">搜索 Search</button></form>')
    out = (f'<p class="counts" id="topic-counts" data-live>消息数 MessageCount <b class="n" '
           f'id="message-count">{meta.message_count}</b></p>'
           f'<p>获取地址 Address: <code>{html(base_url)}/topics/{html(name)}</code></p>')
    out += (f'<section class="card" id="subscriptions"><h2>订阅列表 Subscriptions</h2>{search}'
            + _table("subscription-table", ["订阅名称 Name", "Endpoint", "重试策略 Retry",
                                            "格式 Format", "FilterTag", "Delivered", "Pending",
                                            "Retrying", "Dropped", "Attempts", "Last error",
                                            "下次重试 Next attempt", ""], rows)
            + f'<p class="pager">{pager}</p></section>')
    out += f"""<section class="card" id="subscribe"><h2>创建订阅 Subscribe</h2>
<form method="post" class="fields"><input type="hidden" name="action" value="subscribe">
<label>订阅名称 Name <input name="subscription" required></label>
<label class="wide">Endpoint <input name="endpoint" required placeholder="http://127.0.0.1:8000/notify or acs:mns:region:account:queues/name"></label>
<label>重试策略 NotifyStrategy <select name="notify_strategy"><option>BACKOFF_RETRY</option><option>EXPONENTIAL_DECAY_RETRY</option></select></label>
<label>消息格式 NotifyContentFormat <select name="notify_content_format"><option>XML</option><option>JSON</option><option>SIMPLIFIED</option></select></label>
<label>FilterTag <input name="filter_tag" maxlength="16"></label>
<button type="submit">订阅 Subscribe</button></form></section>
<section class="card" id="publish"><h2>发布消息 Publish</h2>
<form method="post" class="fields"><input type="hidden" name="action" value="publish">
<label class="wide">消息内容 Body <textarea name="body" required rows="3"></textarea></label>
<label>MessageTag <input name="tag" maxlength="16"></label>
<button type="submit">发布 Publish</button></form></section>
<section class="card" id="configure"><h2>配置 Configure</h2>
<form method="post" class="fields"><input type="hidden" name="action" value="configure">
<label>MaximumMessageSize <input name="maximum_message_size" type="number" min="1024" max="65536" value="{meta.maximum_message_size}"></label>
<label><input type="checkbox" name="logging_enabled" value="true"{" checked" if meta.logging_enabled else ""}> Logging</label>
<button type="submit">保存 Save</button></form></section>
<section class="card">{button("delete", "删除主题 Delete topic", {"topic": name}, danger=True, confirm=f"Delete topic {name}?")}</section>"""
    return out


# ---------------------------------------------------------------- SMS


_STATE_LABEL = {"pending": "审核中", "approved": "审核通过", "rejected": "审核未通过"}


def sms_page(overview: dict[str, Any], records: list[Any], inboxes: dict[str, list[Any]]) -> str:
    account = overview["account"]
    out = (f'<section class="card"><h2>短信概览 Overview</h2><p>用户状态/类型 Status / type: '
           f'<b id="sms-status">{html(account["status"])}</b> / <b id="sms-type">{html(account["type"])}</b></p>'
           f'<p>短信专用主题 SMS topic: <code id="sms-topic">{html(overview["topic"])}</code> · '
           f'订阅名称 Subscription: <code>{html(overview["subscription"])}</code>'
           f'{"" if overview["active"] else " (appears with the first SMS setting)"}</p>'
           f'<p>回执队列 Receipt queues: {html(", ".join(overview["subscribed"]) or "-")}</p></section>')
    signature_rows = [[html(s["name"]), html(s["work_order"]), when(s["created_at"]), html(s["sign_type"]),
                       f'<span class="review {html(s["state"])}">{_STATE_LABEL[s["state"]]}</span>',
                       html(s["reason"] or "-")] for s in overview["signatures"]]
    template_rows = [[html(t["code"]), html(t["name"]), f'<pre class="body">{html(t["content"])}</pre>',
                      html(t["kind"]), html(t["work_order"]), when(t["created_at"]),
                      f'<span class="review {html(t["state"])}">{_STATE_LABEL[t["state"]]}</span>',
                      html(t["reason"] or "-")] for t in overview["templates"]]
    out += ('<section class="card"><h2>短信签名 Signatures</h2>'
            + _table("signature-table", ["签名名称 Name", "工单号 Work order", "创建时间 Created",
                                         "签名类型 Type", "状态 State", "失败原因 Reason"],
                     signature_rows) + "</section>")
    out += ('<section class="card"><h2>短信模板 Templates</h2>'
            + _table("template-table", ["模板CODE", "名称 Name", "内容 Content", "类型 Type",
                                        "工单号 Work order", "创建时间 Created", "状态 State",
                                        "失败原因 Reason"], template_rows) + "</section>")
    threshold_rows = []
    for kind, label in (("day", "日 Day"), ("month", "月 Month")):
        t = overview["thresholds"][kind]
        quota = "不限 unlimited" if t["threshold"] is None else (
            "关闭发送 closed" if t["threshold"] == 0 else str(t["threshold"]))
        threshold_rows.append([
            label, f'<span class="n">{t["count"]}</span>', quota,
            "已到达 stopped" if t["stopped"] else "未到达",
            f'{t["alerts"]}/{ALERTS_PER_PERIOD}',
            button("lift", "解除 Lift", {"kind": kind}) if t["stopped"] else "-",
        ])
    out += ('<section class="card" id="thresholds"><h2>发送阈值 Send thresholds</h2>'
            + _table("threshold-table", ["时间维度", "请求量 Requests", "额度 Quota", "状态 State",
                                         "短信通知量 Alerts", ""], threshold_rows)
            + """<form method="post" class="fields"><input type="hidden" name="action" value="threshold">
<label>维度 <select name="kind"><option value="day">日 Day</option><option value="month">月 Month</option></select></label>
<label>额度 Quota <input name="threshold" placeholder="a count, unlimited or closed" required></label>
<button type="submit">设置 Set</button></form></section>""")
    rule_rows = [[html(r["name"]), html(r["event_type"]), f'<code>{html(r["topic"])}</code>',
                  html(", ".join(r["endpoints"]) or "-"), when(r["active_at"]),
                  button("delete_rule", "删除 Delete", {"rule": r["name"]}, danger=True)]
                 for r in overview["event_rules"]]
    out += ('<section class="card" id="rules"><h2>事件通知 Event rules</h2>'
            + _table("rule-table", ["规则名称 Name", "事件类型 Event", "主题 Topic", "Endpoints",
                                    "生效 Live from", ""], rule_rows)
            + """<form method="post" class="fields"><input type="hidden" name="action" value="create_rule">
<label>规则名称 Name <input name="rule" required pattern="[A-Za-z0-9-]{1,64}"></label>
<label>事件类型 <select name="event_type"><option>SMSRequest:SendSuccessfully</option><option>SMSRequest:SendFailed</option><option>SMSExtend:ReplyMessage</option></select></label>
<label>主题 Topic <input name="topic" placeholder="one existing topic"></label>
<label class="wide">或 Endpoints <input name="endpoints" placeholder="queue names or http(s) URLs, comma-separated"></label>
<button type="submit">创建 Create</button></form></section>""")
    stat_rows = [[html(day), str(c["requests"]), str(c["delivered"]), str(c["failed"]), str(c["rejected"])]
                 for day, c in sorted(overview["statistics"].items(), reverse=True)]
    out += ('<section class="card"><h2>短信统计 Daily statistics</h2>'
            + _table("stat-table", ["日期 Day", "发送 Accepted", "成功 Delivered", "失败 Failed",
                                    "拒绝 Rejected"], stat_rows) + "</section>")
    status_text = {1: "等待回执 waiting", 2: "发送失败 failed", 3: "发送成功 delivered"}
    record_rows = [[html(r.phone_number), html(r.biz_id), f'<span class="send-status s{r.status}">'
                    f'{status_text[r.status]}</span>', html(r.err_code or "-"), html(r.template_code),
                    f'<pre class="body">{html(r.content)}</pre>', when(r.send_time), when(r.receive_time),
                    html(r.out_id or "-")] for r in records]
    out += ('<section class="card"><h2>发送记录 Send records</h2>'
            + _table("record-table", ["号码 Number", "BizId", "状态 Status", "ErrCode", "模板 Template",
                                      "内容 Content", "发送 Sent", "接收 Received", "OutId"],
                     record_rows) + "</section>")
    inbox_rows = []
    for number, messages in sorted(inboxes.items()):
        for m in messages[-5:]:
            inbox_rows.append([html(number), f'<pre class="body">{html(m.text)}</pre>', when(m.time)])
    out += ('<section class="card" id="inboxes"><h2>模拟手机 Handset inboxes</h2>'
            + _table("inbox-table", ["号码 Number", "短信 Message", "时间 Time"], inbox_rows)
            + """<form method="post" class="fields"><input type="hidden" name="action" value="reply">
<label>号码 Number <input name="number" required></label>
<label class="wide">回复 Reply <input name="content" required></label>
<button type="submit">回复 Reply</button></form></section>""")
    return out


def clock_page(now_ms: int) -> str:
    buttons = " ".join(button("advance", label, {"seconds": str(seconds)})
                       for label, seconds in (("+1 分钟 minute", 60), ("+1 小时 hour", 3600),
                                              ("+1 天 day", 86400), ("+7 天 days", 604800)))
    return (f'<section class="card"><p>现在 Now: <b id="now-text">{when(now_ms)} UTC</b> '
            f'(<code id="now-ms">{now_ms}</code> ms)</p><p>{buttons}</p>'
            """<form method="post" class="fields"><input type="hidden" name="action" value="advance">
<label>秒 Seconds <input name="seconds" type="number" min="0" step="any" required></label>
<button type="submit">前进 Advance</button></form></section>""")
