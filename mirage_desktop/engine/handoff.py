"""Hand-over between pipeline threads.

Live video wants the newest frame, not every frame: a consumer that falls behind must
skip stale frames instead of building a queue (that queue *is* latency). Offline
processing wants every frame, with the producer waiting for the consumer instead.
One class, two policies, one-slot capacity either way, so nothing queues without bound.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class HandoffClosed(Exception):
    """The slot was closed; the thread waiting on it should wind down."""


class LatestSlot(Generic[T]):
    """A one-item mailbox between exactly one producer and one consumer.

    ``drop_stale=True``: ``put`` never blocks and replaces an unread item, counting it in
    ``dropped``. ``drop_stale=False``: ``put`` waits until the consumer took the previous item.
    """

    def __init__(self, name: str, drop_stale: bool = True) -> None:
        self.name = name
        self.drop_stale = drop_stale
        self._cond = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._closed = False
        self.dropped = 0
        self.delivered = 0

    def put(self, item: T, timeout: float | None = None) -> bool:
        """Hand over ``item``. Returns False only if a blocking put timed out."""
        with self._cond:
            if self._closed:
                raise HandoffClosed(self.name)
            if self._has_item:
                if self.drop_stale:
                    self.dropped += 1
                else:
                    ok = self._cond.wait_for(lambda: not self._has_item or self._closed, timeout)
                    if self._closed:
                        raise HandoffClosed(self.name)
                    if not ok:
                        return False
            self._item = item
            self._has_item = True
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T | None:
        """Take the newest item, waiting up to ``timeout``; None when nothing arrived in time.

        Raises HandoffClosed once the slot is closed and empty.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._has_item or self._closed, timeout):
                return None
            if not self._has_item:
                raise HandoffClosed(self.name)
            item = self._item
            self._item = None
            self._has_item = False
            self.delivered += 1
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """Wake everyone; a pending item can still be taken by the consumer (no frame lost)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
