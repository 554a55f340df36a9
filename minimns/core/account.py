"""An account's queues and topics: the catalog that creates, finds, lists and deletes them."""

from __future__ import annotations

from dataclasses import replace

from sortedcontainers import SortedDict

from ..errors import (
    QueueAlreadyExist,
    QueueNotExist,
    QueueNumExceeded,
    TopicAlreadyExist,
    TopicNameInvalid,
    TopicNameLengthError,
    TopicNotExist,
    TopicNumExceeded,
)
from .attributes import QueueAttributes, check_name, check_queue_name
from .catalog import create_or_match
from .paging import RET_NUMBER_MAX, page
from .queue import QueueState
from .topic import TopicAttributes, TopicState

__all__ = ["Account", "QUEUES_MAX", "TOPICS_MAX"]

QUEUES_MAX = 1000  # MNS's per-region quotas
TOPICS_MAX = 1000
TOPIC_NAME_MAX = 120
SYSTEM_TOPIC_PREFIX = "sms."  # the free SMS topic: outside the quota, not a name users can make


OPENAPI_ONLY = ("dlq_policy", "tags", "queue_type")


class Account:
    """Queues and topics by name. Tokens for new ones are passed in, keeping this pure."""

    def __init__(self, max_queues: int = QUEUES_MAX, max_topics: int = TOPICS_MAX) -> None:
        self.max_queues = max_queues
        self.max_topics = max_topics
        self.queues: SortedDict[str, QueueState] = SortedDict()
        self.topics: SortedDict[str, TopicState] = SortedDict()

    def create_queue(
        self, now: int, name: str, token: int, **attributes: object
    ) -> tuple[QueueState, bool]:
        """(queue, created). An existing queue with identical attributes is
        returned as is; with any difference it is QueueAlreadyExist."""
        check_queue_name(name)
        wanted = QueueAttributes().with_changes(name, **attributes)

        def same(queue: QueueState) -> bool:
            # What the request cannot express is not a difference: the REST body has
            # no DlqPolicy, tags or queue type (the OpenAPI sets those).
            unsaid = {key: getattr(queue.attributes, key) for key in OPENAPI_ONLY
                      if key not in attributes}
            return queue.attributes == replace(wanted, **unsaid)

        def check_quota() -> None:
            self.check_dead_letter_target(wanted)
            if len(self.queues) >= self.max_queues:
                raise QueueNumExceeded(
                    f"The number of queues has reached the limit of {self.max_queues}.")

        return create_or_match(self.queues, name, same, QueueAlreadyExist,
                               lambda: QueueState(name, wanted, now, token), check_quota)

    def set_queue_attributes(self, now: int, name: str, **changes: object) -> QueueState:
        """SetQueueAttributes: a DlqPolicy must name a queue that exists."""
        queue = self.queue(name)
        if changes.get("dlq_policy") is not None:  # a policy already set is not re-judged
            self.check_dead_letter_target(queue.attributes.with_changes(name, **changes))
        queue.set_attributes(now, **changes)
        return queue

    def check_dead_letter_target(self, attributes: QueueAttributes) -> None:
        policy = attributes.dlq_policy
        if policy.enabled and policy.dead_letter_target_queue not in self.queues:
            raise QueueNotExist(f"The dead-letter queue {policy.dead_letter_target_queue} "
                                "does not exist.")

    def queue(self, name: str) -> QueueState:
        queue = self.queues.get(name)
        if queue is None:
            raise QueueNotExist()
        return queue

    def delete_queue(self, name: str) -> QueueState | None:
        """Remove a queue and its messages; a missing queue is not an error."""
        queue = self.queues.pop(name, None)
        if queue is not None:
            queue.clear()
        return queue

    def list_queues(
        self, prefix: str = "", ret_number: int = RET_NUMBER_MAX, marker: str = ""
    ) -> tuple[list[QueueState], str]:
        return page(self.queues, prefix, ret_number, marker)

    # -- topics ------------------------------------------------------------------------------

    def create_topic(
        self, now: int, name: str, token: int, **attributes: object
    ) -> tuple[TopicState, bool]:
        """(topic, created), with the same rule as queues: identical attributes
        find the existing topic, any difference is TopicAlreadyExist."""
        check_name(name, "Topic", TOPIC_NAME_MAX, TopicNameLengthError, TopicNameInvalid)
        wanted = TopicAttributes().with_changes(**attributes)  # type: ignore[arg-type]

        def same(topic: TopicState) -> bool:
            if "tags" not in attributes:  # as for queues: unsaid tags are no difference
                return topic.attributes == replace(wanted, tags=topic.attributes.tags)
            return topic.attributes == wanted

        def check_quota() -> None:
            users = sum(1 for n in self.topics if not n.startswith(SYSTEM_TOPIC_PREFIX))
            if users >= self.max_topics:
                raise TopicNumExceeded(
                    f"The number of topics has reached the limit of {self.max_topics}.")

        return create_or_match(self.topics, name, same, TopicAlreadyExist,
                               lambda: TopicState(name, wanted, now, token), check_quota)

    def topic(self, name: str) -> TopicState:
        topic = self.topics.get(name)
        if topic is None:
            raise TopicNotExist()
        return topic

    def delete_topic(self, name: str) -> TopicState | None:
        """Remove a topic, its subscriptions and their pending pushes; missing is not an error."""
        topic = self.topics.pop(name, None)
        if topic is not None:
            topic.clear()
        return topic

    def list_topics(
        self, prefix: str = "", ret_number: int = RET_NUMBER_MAX, marker: str = ""
    ) -> tuple[list[TopicState], str]:
        return page(self.topics, prefix, ret_number, marker)
