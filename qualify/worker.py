"""The projection worker: keeps the read models current from its own process.

Any number may run. Each batch's write transaction locks the position rows, so
two workers never apply the same events; a session lock on the store lets one
worker lead while the others wait to take over when it dies. A lost database
connection is logged and the worker connects again, resuming from the positions
stored with the last committed batch.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import psycopg
from eventsourcing.persistence import PersistenceError

from qualify.bootstrap import Backend, StoreUnavailable, build
from qualify.config import Settings

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
LAG_LOG_SECONDS = 10.0
RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)
_LOST = (psycopg.OperationalError, psycopg.InterfaceError, PersistenceError, OSError)


@dataclass
class WorkerStats:
    """What a worker has done since it started, for its log and its tests."""

    events: int = 0
    reconnects: int = 0


def run_worker(
    settings: Settings,
    stop: threading.Event,
    stats: WorkerStats | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> WorkerStats:
    """Follow the log until ``stop`` is set, reconnecting whenever the store is lost.

    Raises StoreUnavailable when the store cannot be opened at the start.
    """
    stats = stats or WorkerStats()
    failures = 0
    opened = False
    while not stop.is_set():
        try:
            backend = build(settings)
        except StoreUnavailable as error:
            # A store never opened is a setting to correct, said once; one opened
            # before and lost since is waited for.
            if not opened:
                raise
            failures = _pause(stop, failures, error)
            continue
        except _LOST as error:
            failures = _pause(stop, failures, error)
            continue
        if not opened:
            opened = True
            logger.info("projection worker started")
        try:
            _follow(backend, stop, stats, poll_seconds)
            failures = 0
        except _LOST as error:
            stats.reconnects += 1
            failures = _pause(stop, failures, error)
        finally:
            _close_quietly(backend)
    return stats


def _follow(
    backend: Backend, stop: threading.Event, stats: WorkerStats, poll_seconds: float
) -> None:
    leadership = backend.store.leadership()
    try:
        last_report = 0.0
        leading: bool | None = None
        while not stop.is_set():
            holds = leadership.hold()
            if holds != leading:
                leading = holds
                logger.info(
                    "leading: advancing the read models"
                    if holds
                    else "standing by: another worker leads"
                )
            if not holds:
                # Another worker leads; stand by, ready to take over when it stops.
                stop.wait(1.0)
                continue

            started = time.perf_counter()
            # Each batch is announced as it commits, for the servers waiting on it.
            result = backend.follower.catch_up(progress=backend.store.announce)
            stats.events += result.events
            now = time.monotonic()
            if result.events and now - last_report >= LAG_LOG_SECONDS:
                head = backend.log.recorder.max_notification_id() or 0
                logger.info(
                    "applied %d events in %.1f ms; position %d, lag %d",
                    result.events,
                    (time.perf_counter() - started) * 1000,
                    result.position,
                    max(head - result.position, 0),
                )
                last_report = now
            if not result.events:
                # Every save notifies; the timeout is only a fallback.
                backend.store.wait_for_news(poll_seconds, backend.events_channel)
    finally:
        # Else a connection still holding the lock outlives this attempt, and the
        # next one (or another worker) could not take the lead.
        leadership.release()


def _pause(stop: threading.Event, failures: int, error: BaseException) -> int:
    delay = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
    logger.warning("lost the store (%s); connecting again in %.1f s", error, delay)
    stop.wait(delay)
    return failures + 1


def _close_quietly(backend: Backend) -> None:
    try:
        backend.close()
    except _LOST as error:
        logger.warning("closing a lost connection failed: %s", error)
