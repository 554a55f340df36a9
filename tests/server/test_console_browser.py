"""The console in a real browser: headless Chromium (Debian's package) driven by Playwright.

Each test walks a flow a newcomer would (a queue with a delayed message and the clock, a topic
with a failing HTTP subscription and its retries, an SMS in a handset inbox and a reply) and
saves a screenshot of every page it visits into ``screenshots/`` (or $MINIMNS_SCREENSHOTS) for
review. Waiting is on what the page shows (Playwright's expect), never on a fixed sleep; the
server's clock is virtual, so a minute or a retry schedule passes at once.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from minimns.server.serve import ServerOptions
from minimns.testing.thread import ServerThread

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)

expect = playwright.expect
SHOTS = Path(os.environ.get("MINIMNS_SCREENSHOTS", Path(__file__).resolve().parents[2] / "screenshots"))
# As the machine's probe starts it: no sandbox as root, no GPU, no calls home.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_queue_with_a_delayed_message_and_the_clock(page):
    with ServerThread() as server:
        page.goto(server.endpoint + "/console/queues")
        page.fill("input[name=name]", "orders")
        page.click("form:has(input[value=create]) button")
        expect(page.locator(".flash")).to_contain_text("Created queue orders")
        shot(page, "01-queues")

        page.click("#queue-table a:text('orders')")
        page.fill("#send textarea[name=body]", "你好, MNS")
        page.fill("#send input[name=delay_seconds]", "60")
        page.click("#send button")
        expect(page.locator(".flash")).to_contain_text("Sent")
        expect(page.locator("#delayed")).to_have_text("1")
        expect(page.locator("#active")).to_have_text("0")
        expect(page.locator("#message-table")).to_contain_text("delayed")
        shot(page, "02-queue-delayed")

        # The clock page moves virtual time; back on the queue page the message is active.
        page.click("header nav a:text('Clock')")
        page.click("form:has(input[value='60']) button")
        expect(page.locator(".flash")).to_contain_text("Advanced 60 s")
        shot(page, "03-clock")
        page.goto(server.endpoint + "/console/queues/orders")
        expect(page.locator("#active")).to_have_text("1")
        expect(page.locator("#delayed")).to_have_text("0")

        # Receive (keep), see it inactive with its handle, then delete it from the result.
        page.fill("#receive input[name=count]", "1")
        page.click("#receive button")
        expect(page.locator("#received")).to_contain_text("你好, MNS")
        expect(page.locator("#inactive")).to_have_text("1")
        expect(page.locator("#message-table")).to_contain_text("inactive")
        shot(page, "04-queue-received")
        page.click("#received-table button")
        expect(page.locator(".flash")).to_contain_text("Deleted the message")
        expect(page.locator("#inactive")).to_have_text("0")

        # Live counts: a message sent by someone else shows up without a reload.
        server.call(_send, server, "orders", "from the SDK")
        expect(page.locator("#active")).to_have_text("1")
        page.check("#receive input[name=auto_delete]")
        page.click("#receive button")
        expect(page.locator("#received")).to_contain_text("Received and deleted")
        expect(page.locator("#active")).to_have_text("0")
        shot(page, "05-queue-auto-deleted")


async def _send(server, name, body):
    await server.broker.get_queue(name).send_message(body)


def test_a_failing_http_subscription_and_its_retries(page):
    with ServerThread() as server:
        page.goto(server.endpoint + "/console/topics")
        page.fill("input[name=name]", "news")
        page.click("form:has(input[value=create]) button")
        page.click("#topic-table a:text('news')")
        page.fill("#subscribe input[name=subscription]", "dead-endpoint")
        page.fill("#subscribe input[name=endpoint]", "http://127.0.0.1:1/notify")
        page.click("#subscribe button")
        expect(page.locator(".flash")).to_contain_text("Subscribed dead-endpoint")
        page.fill("#publish textarea[name=body]", "breaking")
        page.click("#publish button")
        expect(page.locator(".flash")).to_contain_text("Published")
        row = page.locator("#subscription-table tr", has_text="dead-endpoint")
        expect(row.locator(".attempts")).to_have_text("1")
        expect(row.locator(".retrying")).to_have_text("1")
        expect(row.locator(".last-error")).not_to_have_text("-")
        expect(row.locator(".next-retry")).to_contain_text("(#2)")
        shot(page, "06-topic-retrying")
        for attempts in ("2", "3", "4"):  # BACKOFF_RETRY: each retry 10-20 s after a failure
            server.advance(20)
            expect(row.locator(".attempts")).to_have_text(attempts)
        expect(row.locator(".dropped")).to_have_text("1")  # 3 retries, then dropped
        expect(row.locator(".retrying")).to_have_text("0")
        shot(page, "07-topic-dropped")
        page.goto(server.endpoint + "/console/topics")
        expect(page.locator("#topic-table")).to_contain_text("news")
        shot(page, "08-topics")


SMS_CONFIG = {
    "sms": {
        "account_type": "enterprise", "subscribe": ["SmsUp"], "carrier": {"latency_ms": 1000},
        "signatures": [{"name": "阿里云"}],
        "templates": [{"code": "SMS_100001", "name": "login", "content": "您的验证码为${code}",
                       "type": "verification"}],
    }
}


def test_an_sms_in_a_handset_inbox_and_a_reply(page):
    with ServerThread(ServerOptions(port=0), config=SMS_CONFIG) as server:
        server.call(_send_sms, server)
        page.goto(server.endpoint + "/console/sms")
        expect(page.locator("#sms-topic")).to_have_text("sms.topic-cn-hangzhou")
        expect(page.locator("#record-table")).to_contain_text("等待回执")
        server.advance(1)  # the carrier's latency
        expect(page.locator("#inbox-table")).to_contain_text("【阿里云】您的验证码为8842")
        expect(page.locator("#record-table")).to_contain_text("发送成功")
        shot(page, "09-sms-inbox")
        page.fill("#inboxes input[name=number]", "13800000000")
        page.fill("#inboxes input[name=content]", "收到")
        page.click("#inboxes button")
        expect(page.locator(".flash")).to_contain_text("Replied from 13800000000")
        dump = server.call(_dump, server, "Alicom-Queue-1234567890-SmsUp")
        assert [re.search(r'"content": "([^"]*)"', m["body"]).group(1) for m in dump] == ["收到"]
        page.fill("#rules input[name=rule]", "replies")
        page.fill("#rules input[name=endpoints]", "http://127.0.0.1:1/events")
        page.click("#rules button")
        expect(page.locator("#rule-table")).to_contain_text("replies")
        shot(page, "10-sms-overview")


async def _send_sms(server):
    await server.broker.sms.send("阿里云", "SMS_100001", ["13800000000"], {"code": "8842"})


async def _dump(server, name):
    broker = server.broker
    return broker.account.queues[name].dump(broker.now())
