"""The management OpenAPI (2022-01-19) through the official SDK only,
``alibabacloud-mns-open20220119``: queues, topics, subscriptions, the account and
its endpoint, both signature algorithms, errors as ``ClientException`` codes, and
what one API makes the MNS data-plane SDK sees (and the other way round)."""

from __future__ import annotations

import base64
import urllib.request

import pytest
from alibabacloud_mns_open20220119 import models
from alibabacloud_mns_open20220119.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta
from mns.topic import TopicMessage, TopicMeta

from minimns.server.serve import ServerOptions
from minimns.testing.thread import ServerThread

AK, SK = "open-ak", "open-sk"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """The SDK honours HTTP_PROXY but ignores NO_PROXY: loopback must not go to a proxy."""
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def server():
    with ServerThread(ServerOptions(port=0, access_key_id=AK, access_key_secret=SK)) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(server):
    yield
    server.call(server.app.reset)


def client(server, secret=SK, **config) -> Client:
    host = server.endpoint.partition("//")[2]
    return Client(Config(endpoint=host, protocol="http", access_key_id=AK,
                         access_key_secret=secret, region_id="cn-hangzhou", **config))


def mns(server) -> Account:
    return Account(server.endpoint, AK, SK)


def queue_of(server, name):
    """The data-plane SDK's queue, bodies as sent (not base64)."""
    queue = mns(server).get_queue(name)
    queue.set_encoding(False)
    return queue


def refused(call) -> ClientException:
    with pytest.raises(ClientException) as caught:
        call()
    return caught.value


def create_queue(server, name, **attributes):
    return client(server).create_queue(models.CreateQueueRequest(queue_name=name, **attributes))


# -- queues ------------------------------------------------------------------------------


def test_create_queue_answers_success_and_the_data_plane_uses_the_queue(server):
    answer = create_queue(server, "orders", visibility_timeout=60, delay_seconds=0,
                          tag=[models.CreateQueueRequestTag(key="team", value="pay")])
    body = answer.body
    assert (answer.status_code, body.code, body.success, body.status) == (200, 200, True, "Success")
    assert body.request_id and body.message == "operation success"
    queue = queue_of(server, "orders")
    queue.send_message(Message("from the data plane"))
    assert queue.receive_message(0).message_body == "from the data plane"
    assert queue.get_attributes().visibility_timeout == 60


def test_get_queue_attributes_has_every_field_with_defaults_and_counts(server):
    mns(server).get_queue("made-by-rest").create(QueueMeta())
    mns(server).get_queue("made-by-rest").send_message(Message("x"))
    data = client(server).get_queue_attributes(
        models.GetQueueAttributesRequest(queue_name="made-by-rest")).body.data
    assert data.queue_name == "made-by-rest"
    assert (data.delay_seconds, data.maximum_message_size, data.message_retention_period,
            data.visibility_timeout, data.polling_wait_seconds) == (0, 65536, 345600, 30, 0)
    assert (data.active_messages, data.inactive_messages, data.delay_messages) == (1, 0, 0)
    assert data.logging_enabled is False and data.queue_type == "normal"
    assert data.create_time > 1_600_000_000 and data.last_modify_time >= data.create_time
    assert data.dlq_policy.enabled is False and data.tags == []


def test_set_queue_attributes_changes_only_what_it_names(server):
    create_queue(server, "q", visibility_timeout=45)
    client(server).set_queue_attributes(models.SetQueueAttributesRequest(
        queue_name="q", polling_wait_seconds=5, enable_logging=True))
    data = client(server).get_queue_attributes(
        models.GetQueueAttributesRequest(queue_name="q")).body.data
    assert (data.visibility_timeout, data.polling_wait_seconds, data.logging_enabled) == (45, 5, True)


def test_dlq_policy_set_through_the_openapi_moves_messages_the_data_plane_receives(server):
    create_queue(server, "dead")
    create_queue(server, "work", visibility_timeout=5, dlq_policy=models.CreateQueueRequestDlqPolicy(
        enabled=True, dead_letter_target_queue="dead", max_receive_count=2))
    data = client(server).get_queue_attributes(
        models.GetQueueAttributesRequest(queue_name="work")).body.data
    assert (data.dlq_policy.enabled, data.dlq_policy.dead_letter_target_queue,
            data.dlq_policy.max_receive_count) == (True, "dead", "2")
    work = queue_of(server, "work")
    sent = work.send_message(Message("poison"))
    for _ in range(2):
        work.receive_message(0)
        server.advance(5.5)
    got = queue_of(server, "dead").receive_message(0)
    assert got.message_body == "poison"
    assert got.system_properties["DLQOriginMessageId"].string_value == sent.message_id
    assert got.system_properties["DLQSourceArn"].string_value.endswith(":/queues/work")
    assert got.system_properties["DLQMessageType"].string_value == "QUEUE"


def test_dlq_policy_naming_a_missing_queue_or_itself_is_refused(server):
    missing = refused(lambda: create_queue(server, "a", dlq_policy=models.CreateQueueRequestDlqPolicy(
        enabled=True, dead_letter_target_queue="nowhere", max_receive_count=3)))
    assert (missing.code, missing.status_code) == ("QueueNotExist", 404)
    create_queue(server, "a")
    itself = refused(lambda: client(server).set_queue_attributes(models.SetQueueAttributesRequest(
        queue_name="a", dlq_policy=models.SetQueueAttributesRequestDlqPolicy(
            enabled=True, dead_letter_target_queue="a", max_receive_count=3))))
    assert itself.code == "InvalidArgument"


def test_list_queue_pages_filters_by_prefix_and_tag(server):
    for i in range(5):
        create_queue(server, f"page-{i}", tag=[models.CreateQueueRequestTag(
            key="env", value="prod" if i % 2 else "dev")])
    create_queue(server, "other")
    page = client(server).list_queue(models.ListQueueRequest(
        queue_name="page-", page_num=2, page_size=2)).body.data
    assert (page.page_num, page.page_size, page.total, page.pages, page.size) == (2, 2, 5, 3, 2)
    assert [q.queue_name for q in page.page_data] == ["page-2", "page-3"]
    tagged = client(server).list_queue(models.ListQueueRequest(
        tag=[models.ListQueueRequestTag(key="env", value="prod")])).body.data
    assert [q.queue_name for q in tagged.page_data] == ["page-1", "page-3"]
    assert tagged.page_data[0].tags[0].tag_key == "env"


def test_delete_queue_removes_it_for_the_data_plane_too(server):
    create_queue(server, "gone")
    client(server).delete_queue(models.DeleteQueueRequest(queue_name="gone"))
    with pytest.raises(MNSServerException) as caught:
        mns(server).get_queue("gone").get_attributes()
    assert caught.value.type == "QueueNotExist"


@pytest.mark.parametrize("request_, code, status", [
    (models.GetQueueAttributesRequest(queue_name="missing"), "QueueNotExist", 404),
    (models.CreateQueueRequest(queue_name="-bad"), "InvalidQueueName", 400),
    (models.CreateQueueRequest(queue_name="r", visibility_timeout=0), "InvalidArgument", 400),
    (models.CreateQueueRequest(queue_name="r", queue_type="fifo"), "UnsupportedOperation", 400),
    (models.CreateQueueRequest(queue_name="r", enable_sse=True), "UnsupportedOperation", 400),
])
def test_refusals_carry_mns_codes_and_change_nothing(server, request_, code, status):
    name = type(request_).__name__.removesuffix("Request")
    method = getattr(client(server), "".join("_" + c.lower() if c.isupper() else c
                                             for c in name).lstrip("_"))
    error = refused(lambda: method(request_))
    assert (error.code, error.status_code) == (code, status)
    assert error.request_id
    assert mns(server).list_queue()[0] == []


def test_create_queue_twice_is_idempotent_and_different_attributes_conflict(server):
    create_queue(server, "same", visibility_timeout=40)
    create_queue(server, "same", visibility_timeout=40)
    error = refused(lambda: create_queue(server, "same", visibility_timeout=41))
    assert (error.code, error.status_code) == ("QueueAlreadyExist", 409)


# -- topics and subscriptions -------------------------------------------------------------


def test_topic_lifecycle_and_a_queue_subscription_delivers_a_data_plane_publish(server):
    api = client(server)
    api.create_topic(models.CreateTopicRequest(topic_name="events", max_message_size=2048,
                                               tag=[models.CreateTopicRequestTag(key="a", value="b")]))
    api.set_topic_attributes(models.SetTopicAttributesRequest(topic_name="events",
                                                              enable_logging=True))
    data = api.get_topic_attributes(models.GetTopicAttributesRequest(topic_name="events")).body.data
    assert (data.topic_name, data.max_message_size, data.logging_enabled) == ("events", 2048, True)
    assert data.topic_url.endswith("/topics/events") and data.tags[0].tag_key == "a"
    create_queue(server, "inbox")
    answer = api.subscribe(models.SubscribeRequest(
        topic_name="events", subscription_name="to-inbox", push_type="queue", endpoint="inbox",
        notify_content_format="SIMPLIFIED", message_tag="paid"))
    assert answer.body.data.endswith("/topics/events/subscriptions/to-inbox")
    sub = api.get_subscription_attributes(models.GetSubscriptionAttributesRequest(
        topic_name="events", subscription_name="to-inbox")).body.data
    assert sub.endpoint == "acs:mns:cn-hangzhou:1234567890:queues/inbox"
    assert (sub.notify_content_format, sub.filter_tag, sub.notify_strategy) == (
        "SIMPLIFIED", "paid", "BACKOFF_RETRY")
    mns(server).get_topic("events").publish_message(TopicMessage("paid!", "paid"))
    assert queue_of(server, "inbox").receive_message(0).message_body == "paid!"
    api.set_subscription_attributes(models.SetSubscriptionAttributesRequest(
        topic_name="events", subscription_name="to-inbox", notify_strategy="EXPONENTIAL_DECAY_RETRY"))
    listed = api.list_subscription_by_topic(models.ListSubscriptionByTopicRequest(
        topic_name="events")).body.data
    assert [(s.subscription_name, s.notify_strategy) for s in listed.page_data] == [
        ("to-inbox", "EXPONENTIAL_DECAY_RETRY")]
    api.unsubscribe(models.UnsubscribeRequest(topic_name="events", subscription_name="to-inbox"))
    assert mns(server).get_topic("events").list_subscription()[0] == []
    topics = api.list_topic(models.ListTopicRequest(topic_name="ev")).body.data
    assert [t.topic_name for t in topics.page_data] == ["events"] and topics.total == 1
    api.delete_topic(models.DeleteTopicRequest(topic_name="events"))
    error = refused(lambda: api.get_topic_attributes(
        models.GetTopicAttributesRequest(topic_name="events")))
    assert (error.code, error.status_code) == ("TopicNotExist", 404)


def test_http_and_mail_subscriptions_take_the_data_plane_endpoint_forms(server):
    api = client(server)
    api.create_topic(models.CreateTopicRequest(topic_name="t"))
    api.subscribe(models.SubscribeRequest(topic_name="t", subscription_name="web",
                                          push_type="http", endpoint="http://127.0.0.1:9/x"))
    api.subscribe(models.SubscribeRequest(topic_name="t", subscription_name="mail",
                                          push_type="email", endpoint="ops@example.com"))
    only_http = api.list_subscription_by_topic(models.ListSubscriptionByTopicRequest(
        topic_name="t", endpoint_type="http")).body.data
    assert [s.endpoint for s in only_http.page_data] == ["http://127.0.0.1:9/x"]
    mail = api.get_subscription_attributes(models.GetSubscriptionAttributesRequest(
        topic_name="t", subscription_name="mail")).body.data
    assert mail.endpoint == "mail:directmail:ops@example.com"
    error = refused(lambda: api.subscribe(models.SubscribeRequest(
        topic_name="t", subscription_name="k", push_type="kafka", endpoint="x")))
    assert error.code == "UnsupportedOperation"
    dlq = refused(lambda: api.subscribe(models.SubscribeRequest(
        topic_name="t", subscription_name="d", push_type="http", endpoint="http://127.0.0.1:9/",
        dlq_policy=models.SubscribeRequestDlqPolicy(enabled=True, dead_letter_target_queue="q"))))
    assert dlq.code == "UnsupportedOperation"


# -- the account and its endpoint ---------------------------------------------------------


def test_account_attributes_round_trip(server):
    api = client(server)
    before = api.get_account_attributes(models.GetAccountAttributesRequest()).body.data
    assert (before.log_enabled, before.project_name, before.log_store_name) == (False, "", "")
    api.set_account_attributes(models.SetAccountAttributesRequest(
        log_enabled=True, project_name="proj", log_store_name="store"))
    after = api.get_account_attributes(models.GetAccountAttributesRequest()).body.data
    assert (after.log_enabled, after.project_name, after.log_store_name) == (True, "proj", "store")


def test_disable_endpoint_shuts_the_data_plane_until_enable(server):
    api = client(server)
    api.disable_endpoint(models.DisableEndpointRequest(endpoint_type="public"))
    assert api.get_endpoint_attribute(models.GetEndpointAttributeRequest(
        endpoint_type="public")).body.data.endpoint_enabled is False
    with pytest.raises(MNSServerException) as caught:
        mns(server).list_queue()
    assert caught.value.type == "AccessDenied"
    api.enable_endpoint(models.EnableEndpointRequest(endpoint_type="public"))
    assert mns(server).list_queue()[0] == []
    vpc = refused(lambda: api.enable_endpoint(models.EnableEndpointRequest(endpoint_type="vpc")))
    assert vpc.code == "UnsupportedOperation"
    acl = refused(lambda: api.authorize_endpoint_acl(models.AuthorizeEndpointAclRequest(
        endpoint_type="public", acl_strategy="allow", cidr_list=["10.0.0.0/8"])))
    assert acl.code == "UnsupportedOperation"


# -- signatures ------------------------------------------------------------------------------


def test_the_older_hmac_sha1_signature_works_too(server):
    client(server, signature_algorithm="v2").create_queue(models.CreateQueueRequest(queue_name="v2"))
    assert mns(server).get_queue("v2").get_attributes().queue_name == "v2"


def test_a_wrong_secret_is_refused_and_changes_nothing(server):
    error = refused(lambda: client(server, secret="wrong").create_queue(
        models.CreateQueueRequest(queue_name="nope")))
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 400)
    assert mns(server).list_queue()[0] == []


# -- the console -----------------------------------------------------------------------------


def console_page(server, path: str) -> str:
    request = urllib.request.Request(server.endpoint + path)
    token = base64.b64encode(f"{AK}:{SK}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request) as answer:
        return answer.read().decode()


def test_the_console_shows_the_policy_and_the_dead_letter_counts(server):
    create_queue(server, "dead")
    create_queue(server, "work", visibility_timeout=5, dlq_policy=models.CreateQueueRequestDlqPolicy(
        enabled=True, dead_letter_target_queue="dead", max_receive_count=1))
    work = queue_of(server, "work")
    for body in ("a", "b"):
        work.send_message(Message(body))
    work.batch_receive_message(16, 0)
    server.advance(5.5)
    listing = console_page(server, "/console/queues")
    assert '→ <a href="/console/queues/dead">dead</a> (1×)' in listing
    source = console_page(server, "/console/queues/work")
    assert '<b id="max-receive-count">1</b>' in source
    assert '<b class="n" id="dead-lettered">2</b>' in source
    target = console_page(server, "/console/queues/dead")
    assert '<b class="n" id="dead-letters-held">2</b>' in target


# -- durability ------------------------------------------------------------------------------


def test_what_the_openapi_sets_survives_a_restart(tmp_path):
    options = ServerOptions(port=0, access_key_id=AK, access_key_secret=SK)
    with ServerThread(options, data_dir=str(tmp_path), fsync="never") as first:
        create_queue(first, "dead")
        create_queue(first, "tagged", tag=[models.CreateQueueRequestTag(key="k", value="v")],
                     dlq_policy=models.CreateQueueRequestDlqPolicy(
                         enabled=True, dead_letter_target_queue="dead", max_receive_count=4))
        api = client(first)
        api.create_topic(models.CreateTopicRequest(
            topic_name="t", tag=[models.CreateTopicRequestTag(key="a", value="b")]))
        api.set_account_attributes(models.SetAccountAttributesRequest(
            log_enabled=True, project_name="p", log_store_name="s"))
        api.disable_endpoint(models.DisableEndpointRequest(endpoint_type="public"))
    with ServerThread(options, data_dir=str(tmp_path), fsync="never") as second:
        api = client(second)
        queue = api.get_queue_attributes(models.GetQueueAttributesRequest(
            queue_name="tagged")).body.data
        assert [(t.tag_key, t.tag_value) for t in queue.tags] == [("k", "v")]
        assert (queue.dlq_policy.dead_letter_target_queue, queue.dlq_policy.max_receive_count) == (
            "dead", "4")
        topic = api.get_topic_attributes(models.GetTopicAttributesRequest(topic_name="t")).body.data
        assert [(t.tag_key, t.tag_value) for t in topic.tags] == [("a", "b")]
        account = api.get_account_attributes(models.GetAccountAttributesRequest()).body.data
        assert (account.log_enabled, account.project_name, account.log_store_name) == (
            True, "p", "s")
        assert api.get_endpoint_attribute(models.GetEndpointAttributeRequest(
            endpoint_type="public")).body.data.endpoint_enabled is False


def test_a_rest_create_of_a_queue_the_openapi_made_matches_on_what_rest_can_say(server):
    create_queue(server, "dead")
    create_queue(server, "both", visibility_timeout=40,
                 tag=[models.CreateQueueRequestTag(key="k", value="v")],
                 dlq_policy=models.CreateQueueRequestDlqPolicy(
                     enabled=True, dead_letter_target_queue="dead", max_receive_count=2))
    meta = QueueMeta()
    meta.set_visibilitytimeout(40)
    mns(server).get_queue("both").create(meta)  # the same as far as REST can say: 204
    meta.set_visibilitytimeout(41)
    with pytest.raises(MNSServerException) as caught:
        mns(server).get_queue("both").create(meta)
    assert caught.value.type == "QueueAlreadyExist"
    client(server).create_topic(models.CreateTopicRequest(
        topic_name="t", tag=[models.CreateTopicRequestTag(key="a", value="b")]))
    mns(server).get_topic("t").create(TopicMeta())  # the tags are not a difference
