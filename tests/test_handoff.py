import threading
import time

import pytest

from mirage_desktop.engine.handoff import HandoffClosed, LatestSlot


def test_newest_wins_and_counts_drops():
    slot = LatestSlot("t", drop_stale=True)
    for i in range(5):
        slot.put(i)
    assert slot.get(timeout=0) == 4
    assert slot.dropped == 4
    assert slot.get(timeout=0) is None


def test_blocking_put_waits_for_consumer_and_loses_nothing():
    slot = LatestSlot("t", drop_stale=False)
    received = []

    def consume():
        while True:
            try:
                item = slot.get(timeout=1)
            except HandoffClosed:
                return
            if item is not None:
                received.append(item)
                time.sleep(0.002)

    t = threading.Thread(target=consume)
    t.start()
    for i in range(50):
        assert slot.put(i, timeout=2)
    slot.close()
    t.join(2)
    assert received == list(range(50))
    assert slot.dropped == 0


def test_blocking_put_times_out_when_consumer_is_stuck():
    slot = LatestSlot("t", drop_stale=False)
    slot.put(1)
    assert slot.put(2, timeout=0.05) is False


def test_close_lets_consumer_take_pending_item_then_raises():
    slot = LatestSlot("t")
    slot.put("last")
    slot.close()
    assert slot.get(timeout=0) == "last"
    with pytest.raises(HandoffClosed):
        slot.get(timeout=0)
    with pytest.raises(HandoffClosed):
        slot.put("x")


def test_close_wakes_a_waiting_consumer():
    slot = LatestSlot("t")
    errors = []

    def wait():
        try:
            slot.get(timeout=5)
        except HandoffClosed:
            errors.append("closed")

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.05)
    slot.close()
    t.join(1)
    assert errors == ["closed"]
