"""An account's queues: the catalog that creates, finds, lists and deletes them."""

from __future__ import annotations

from sortedcontainers import SortedDict

from ..errors import QueueAlreadyExist, QueueNotExist, QueueNumExceeded
from .attributes import QueueAttributes, check_queue_name
from .paging import RET_NUMBER_MAX, page
from .queue import QueueState

__all__ = ["Account", "QUEUES_MAX"]

QUEUES_MAX = 1000  # MNS's per-region quota


class Account:
    """Queues by name. Tokens for new queues are passed in, keeping this pure."""

    def __init__(self, max_queues: int = QUEUES_MAX) -> None:
        self.max_queues = max_queues
        self.queues: SortedDict[str, QueueState] = SortedDict()

    def create_queue(
        self, now: int, name: str, token: int, **attributes: object
    ) -> tuple[QueueState, bool]:
        """(queue, created). An existing queue with identical attributes is
        returned as is; with any difference it is QueueAlreadyExist."""
        check_queue_name(name)
        wanted = QueueAttributes().with_changes(**attributes)
        queue = self.queues.get(name)
        if queue is not None:
            if queue.attributes != wanted:
                raise QueueAlreadyExist()
            return queue, False
        if len(self.queues) >= self.max_queues:
            raise QueueNumExceeded(
                f"The number of queues has reached the limit of {self.max_queues}."
            )
        queue = QueueState(name, wanted, now, token)
        self.queues[name] = queue
        return queue, True

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
