"""A server waiting for projection workers: announcements, looks, many waiters."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from projections.database import ReadStore
from projections.follower import Follower, StoreChanged
from qualify.bootstrap import Watch


class FakeWorkers:
    """The stored position and the announcements, as a test sets them."""

    def __init__(self) -> None:
        self.stored = 0
        self.announced: list[int] = []
        self.looks = 0
        self.listening = 0
        self.most_listening = 0
        self._lock = threading.Lock()
        self._news = threading.Condition(self._lock)

    # The follower's side
    def stored_position(self) -> int:
        with self._lock:
            self.looks += 1
            return self.stored

    # The store's side
    def wait_for_applied(self, timeout: float) -> int | None:
        with self._news:
            self.listening += 1
            self.most_listening = max(self.most_listening, self.listening)
            if not self.announced:
                self._news.wait(timeout)
            news, self.announced = self.announced, []
            self.listening -= 1
        return max(news, default=None)

    def announce(self, position: int) -> None:
        with self._news:
            self.announced.append(position)
            self._news.notify_all()


def _watch(workers: FakeWorkers) -> Watch:
    return Watch(cast(Follower, workers), cast(ReadStore, cast(Any, workers)))


def test_a_position_already_stored_is_reached_at_once() -> None:
    workers = FakeWorkers()
    workers.stored = 5

    assert _watch(workers).wait(5, time.monotonic() + 5)
    assert workers.looks == 1


def test_an_announcement_ends_the_wait() -> None:
    workers = FakeWorkers()
    watch = _watch(workers)
    threading.Timer(0.05, workers.announce, args=(7,)).start()

    # The deadline is far: only the announcement can end the wait in time.
    assert watch.wait(7, time.monotonic() + 30)
    assert workers.stored == 0


def test_a_lost_announcement_is_made_up_by_looking() -> None:
    workers = FakeWorkers()
    watch = _watch(workers)

    def store_silently() -> None:
        workers.stored = 3

    threading.Timer(0.05, store_silently).start()

    assert watch.wait(3, time.monotonic() + 30)
    assert workers.looks >= 2


def test_without_workers_the_wait_ends_at_the_deadline() -> None:
    workers = FakeWorkers()

    assert not _watch(workers).wait(1, time.monotonic() + 0.2)


def test_many_waiters_share_one_listener() -> None:
    workers = FakeWorkers()
    watch = _watch(workers)
    positions = list(range(1, 17))

    with ThreadPoolExecutor(max_workers=len(positions)) as pool:
        waits = [pool.submit(watch.wait, p, time.monotonic() + 30) for p in positions]
        time.sleep(0.1)
        workers.announce(max(positions))
        assert all(w.result() for w in waits)

    # One thread at a time listened; the others were told what it heard.
    assert workers.most_listening == 1
    assert watch.wait(max(positions), time.monotonic())


def test_when_a_look_fails_the_other_waiters_look_at_once() -> None:
    # A store reshaped by another release fails every look; no waiter may sit
    # out its whole deadline because the one looking failed.
    workers = FakeWorkers()
    watch = _watch(workers)
    failing = "the read model is another release's"

    def refuse() -> int:
        # Slow enough that the others are already waiting for this look.
        time.sleep(0.2)
        raise StoreChanged(failing)

    workers.stored_position = refuse  # type: ignore[method-assign]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        waits = [pool.submit(watch.wait, 1, started + 30) for _ in range(8)]
        errors = [w.exception(timeout=30) for w in waits]

    assert [str(e) for e in errors] == [failing] * 8
    assert time.monotonic() - started < 10
