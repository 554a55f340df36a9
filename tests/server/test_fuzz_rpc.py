"""Hostile input to the RPC edge (the management OpenAPI and the SMS API): random
actions with random parameters, unsigned and signed-looking, never answered with a
500 or a traceback, always with the POP JSON shape, and the server keeps serving."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http_wire import exchange, request_bytes

ACTIONS = ["CreateQueue", "SetQueueAttributes", "GetQueueAttributes", "DeleteQueue", "ListQueue",
           "CreateTopic", "SetTopicAttributes", "GetTopicAttributes", "DeleteTopic", "ListTopic",
           "Subscribe", "Unsubscribe", "GetSubscriptionAttributes", "SetSubscriptionAttributes",
           "ListSubscriptionByTopic", "GetAccountAttributes", "SetAccountAttributes",
           "EnableEndpoint", "DisableEndpoint", "GetEndpointAttribute", "CreateEventRule",
           "AuthorizeEndpointAcl", "SendSms", "QuerySendDetails", "NoSuchAction", ""]
NAMES = ["QueueName", "TopicName", "SubscriptionName", "DelaySeconds", "VisibilityTimeout",
         "MaximumMessageSize", "MaxMessageSize", "MessageRetentionPeriod", "PollingWaitSeconds",
         "EnableLogging", "DlqPolicy", "Tag.1.Key", "Tag.1.Value", "Tag.2.Key", "QueueType",
         "TopicType", "PageNum", "PageSize", "PushType", "Endpoint", "NotifyStrategy",
         "NotifyContentFormat", "MessageTag", "EndpointType", "EndpointValue", "LogEnabled",
         "ProjectName", "LogStoreName", "EnableSSE", "KmsKeyId", "TenantRateLimitPolicy",
         "PhoneNumbers", "SignName", "TemplateCode", "TemplateParam"]
VALUES = st.one_of(
    st.sampled_from(["q", "t", "s", "0", "1", "-1", "30", "65536", "99999999999999999999",
                     "true", "false", "True", "", "normal", "fifo", "queue", "http", "email",
                     "public", "vpc", "http://127.0.0.1:9/", "acs:mns:cn-hangzhou:1:queues/q",
                     '{"Enabled": true, "DeadLetterTargetQueue": "q", "MaxReceiveCount": 3}',
                     '{"Enabled": "x"}', "[1, 2]", '{"Enabled": true}', "{", "null", "\u00e9\u4e16",
                     "a" * 300]),
    st.text(max_size=40),
)
VERSIONS = st.sampled_from(["2022-01-19", "2017-05-25", "2099-01-01", ""])


def rpc_call(server, action: str, version: str, params: dict, in_body: bool) -> None:
    query = {"Action": action, "Version": version}
    body = b""
    if in_body:
        body = urlencode(params).encode()
    else:
        query.update(params)
    target = "/?" + urlencode(query)
    head = {"Host": "127.0.0.1", "x-acs-action": action, "x-acs-version": version,
            "Content-Type": "application/x-www-form-urlencoded"}
    reply = exchange(server, request_bytes("POST", target, head, body))
    assert reply.status < 500, reply
    assert b"Traceback" not in reply.body
    answer = json.loads(reply.body)
    assert answer["RequestId"] and "Code" in answer, answer
    if reply.status >= 400:
        assert answer["Message"], answer


def test_random_rpc_calls_are_answered_as_pop_json_and_the_server_serves_on(server):
    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(action=st.sampled_from(ACTIONS), version=VERSIONS,
           params=st.dictionaries(st.sampled_from(NAMES), VALUES, max_size=8),
           in_body=st.booleans())
    def one(action, version, params, in_body) -> None:
        rpc_call(server, action, version, params, in_body)

    one()
    reply = exchange(server, b"GET /queues HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert reply.status == 200
