"""The typed changes and their journal codec: every type round-trips, and the records
data directories already hold (plain ``[op, now, *args]`` lists) decode to them."""

from __future__ import annotations

import msgpack
import pytest

from minimns.broker import changes as c
from minimns.core.message import NO_PROPERTIES, Properties

PROPS = Properties("group", (("k", "v", "STRING"),), (("traceparent", "t", "STRING"),))

SAMPLES = [
    c.CreateQueue(1, "q", 7, {"visibility_timeout": 9}),
    c.SetQueueAttributes(1, "q", {"dlq_policy": [True, "d", 3]}),
    c.DeleteQueue(1, "q"),
    c.SendMessage(1, "q", "body", None, 3, PROPS),
    c.SendMessage(1, "q", "plain", 2, None),
    c.BatchSendMessage(1, "q", (("a", None, None, NO_PROPERTIES), ("b", 1, 2, PROPS))),
    c.ReceiveMessages(1, "q", 16),
    c.DeleteMessage(1, "q", "handle"),
    c.BatchDeleteMessage(1, "q", ["h1", "h2"]),
    c.ChangeVisibility(1, "q", "handle", 30),
    c.MoveDeadLetters(1, "q"),
    c.CreateTopic(1, "t", 8, {}),
    c.SetTopicAttributes(1, "t", {"logging_enabled": True}),
    c.DeleteTopic(1, "t"),
    c.Subscribe(1, "t", "s", ["http://h/", None, "XML", None]),
    c.SetNotifyStrategy(1, "t", "s", "EXPONENTIAL_DECAY_RETRY"),
    c.Unsubscribe(1, "t", "s"),
    c.PublishMessage(1, "t", "body", "tag", {"DirectMail": "{}"}, PROPS),
    c.PushOutcome(1, "t", "s", "ID", "HTTP 500"),
    c.LocalRetriesDue(1, "t", "s"),
    c.DataDirectoryMeta(1, {"push_seed": 5}),
    c.SetLoggingBucket(1, "bucket"),
    c.SetAccountSettings(1, {"LogEnabled": True}),
    c.ClockReached(1),
    c.SmsChange(1, "advance", {}),
]


def test_every_change_type_has_a_sample():
    assert {type(s) for s in SAMPLES} == set(c._BY_OP.values())


@pytest.mark.parametrize("change", SAMPLES, ids=lambda s: type(s).__name__)
def test_every_change_round_trips_through_msgpack(change):
    record = msgpack.unpackb(msgpack.packb(c.encode(change), use_bin_type=True), raw=False)
    assert c.decode(record) == change


def test_a_live_only_field_is_never_journaled():
    live = c.PushOutcome(1, "t", "s", "ID", None, delivery=object())
    assert c.encode(live) == ["po", 1, "t", "s", "ID", None]
    assert c.decode(c.encode(live)) == live  # compared without the delivery


@pytest.mark.parametrize("record, expected", [
    (["s", 5, "q", "b", None, None, None], c.SendMessage(5, "q", "b", None, None)),
    (["s", 5, "q", "b", 0, 1, ["g", [["k", "v", "STRING"]], []]],
     c.SendMessage(5, "q", "b", 0, 1, Properties("g", (("k", "v", "STRING"),), ()))),
    (["bs", 5, "q", [["b", None, None, None]]],
     c.BatchSendMessage(5, "q", (("b", None, None, NO_PROPERTIES),))),
    (["p", 5, "t", "b", None, {}, None], c.PublishMessage(5, "t", "b", None, {})),
    (["r", 5, "q", 1], c.ReceiveMessages(5, "q", 1)),
])
def test_records_written_before_the_types_decode_to_them(record, expected):
    assert c.decode(record) == expected


def test_a_record_of_another_shape_or_op_is_refused():
    with pytest.raises(TypeError):
        c.decode(["d", 5, "q"])
    with pytest.raises(KeyError):
        c.decode(["zz", 5])
