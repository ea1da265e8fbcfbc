"""Garbage collection held off for bulk work, and handed back as it was."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from projections.collection import paused_collection


@pytest.fixture
def collecting() -> Iterator[None]:
    """Automatic collection on during the test, and as it was afterwards."""
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_collection_is_off_inside_and_back_on_after(collecting: None) -> None:
    with paused_collection():
        assert not gc.isenabled()

    assert gc.isenabled()


def test_collection_comes_back_after_an_error_inside(collecting: None) -> None:
    with pytest.raises(RuntimeError), paused_collection():
        raise RuntimeError("the bulk work failed")

    assert gc.isenabled()


def test_an_inner_block_ending_leaves_the_outer_one_paused(collecting: None) -> None:
    with paused_collection():
        with paused_collection():
            pass
        assert not gc.isenabled()

    assert gc.isenabled()


def test_overlapping_blocks_in_two_threads_end_with_collection_on(
    collecting: None,
) -> None:
    first_in = threading.Event()
    second_in = threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with paused_collection():
            first_in.set()
            second_in.wait(5)
        # The second block is still open: collection stays off.
        seen.append(gc.isenabled())

    thread = threading.Thread(target=first)
    thread.start()
    assert first_in.wait(5)
    with paused_collection():
        second_in.set()
        thread.join(5)

    assert seen == [False]
    assert gc.isenabled()


def test_collection_left_off_by_the_caller_stays_off() -> None:
    was = gc.isenabled()
    gc.disable()
    try:
        with paused_collection():
            pass
        assert not gc.isenabled()
    finally:
        if was:
            gc.enable()
