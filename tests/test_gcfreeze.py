"""The collector's full passes skip what a process started with, and get it back after."""

from __future__ import annotations

import gc
import weakref

import pytest

from pixity.gcfreeze import older_objects_frozen


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> Node:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a


def test_what_lives_before_is_exempt_and_what_is_made_inside_is_collected() -> None:
    gc.disable()  # only the collections the test makes
    try:
        gc.collect()
        assert gc.get_freeze_count() == 0
        before = weakref.ref(cycle())  # garbage already, left for the collector
        with older_objects_frozen():
            assert gc.get_freeze_count() > 0
            inside = weakref.ref(cycle())
            gc.collect()
            assert inside() is None  # what is made inside the block is collected as ever
            assert before() is not None  # what was there before is not looked at
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert before() is None  # the collector has it back
    finally:
        gc.enable()


def test_the_objects_come_back_whatever_ends_the_block() -> None:
    with pytest.raises(RuntimeError, match="stopped"), older_objects_frozen():
        assert gc.get_freeze_count() > 0
        raise RuntimeError("stopped")
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_someone_else_is_left_as_it_is() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with older_objects_frozen():
            cycle()
        assert gc.get_freeze_count() == frozen  # not unfrozen by us, not added to
    finally:
        gc.unfreeze()
