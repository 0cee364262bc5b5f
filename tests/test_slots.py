"""Connection slots without sockets: who is served at once, and who is next."""

from __future__ import annotations

from wxstation.slots import Slots


class Served:
    """Records the connections started, and ends them on demand."""

    def __init__(self, total: int, per_source: int, limited: set[str]) -> None:
        self.started: list[str] = []
        self.limited = limited
        self.slots: Slots[str] = Slots(
            total, per_source, lambda source: source in self.limited, self.start
        )
        #: Connections that end as soon as they start (a refused source's).
        self.end_at_once: set[str] = set()

    def start(self, source: str, item: str) -> None:
        self.started.append(item)
        if source in self.end_at_once:
            self.slots.release(source)


def test_a_limited_source_waits_for_its_own_slots_and_others_go_ahead() -> None:
    """Test that a limited source gets at most per_source slots, its next
    connection starting when one of its own ends, while another source's
    connections are served meanwhile."""
    served = Served(total=10, per_source=2, limited={"a"})
    for item in ("a1", "a2", "a3", "b1", "a4"):
        served.slots.admit(item[0], item)
    assert served.started == ["a1", "a2", "b1"]
    assert served.slots.waiting == 2
    served.slots.release("b")
    assert served.started == ["a1", "a2", "b1"]
    served.slots.release("a")
    assert served.started == ["a1", "a2", "b1", "a3"]


def test_all_slots_busy_waiters_go_first_come_first_served() -> None:
    """Test that with every slot busy, connections start in the order they came
    as slots come free."""
    served = Served(total=2, per_source=8, limited=set())
    for item in ("a1", "b1", "c1", "b2", "a2"):
        served.slots.admit(item[0], item)
    assert served.started == ["a1", "b1"]
    for source in ("a", "b", "c"):
        served.slots.release(source)
    assert served.started == ["a1", "b1", "c1", "b2", "a2"]


def test_a_source_no_longer_limited_has_its_waiting_connections_go_ahead() -> None:
    """Test that once a source is a station's (or refused), all its waiting
    connections go ahead at once."""
    served = Served(total=10, per_source=1, limited={"a"})
    for item in ("a1", "a2", "a3"):
        served.slots.admit("a", item)
    assert served.started == ["a1"]
    served.limited.clear()
    served.slots.wake("a")
    assert served.started == ["a1", "a2", "a3"]
    assert served.slots.waiting == 0


def test_connections_ending_as_they_start_keep_the_stack_flat() -> None:
    """Test that thousands of waiting connections that end as soon as they start
    (a refused source's, closed unread) all start, one after the other, without
    recursion."""
    served = Served(total=1, per_source=8, limited=set())
    served.slots.admit("x", "first")
    served.end_at_once.add("a")
    for number in range(5000):
        served.slots.admit("a", f"a{number}")
    served.slots.release("x")
    assert len(served.started) == 5001
    assert served.slots.waiting == 0


def test_drain_takes_every_connection_not_started() -> None:
    """Test that drain returns the connections waiting for either kind of slot
    and frees the slots they held."""
    served = Served(total=1, per_source=1, limited={"a"})
    for item in ("a1", "a2", "b1"):
        served.slots.admit(item[0], item)
    assert sorted(served.slots.drain()) == ["a2", "b1"]
    assert served.slots.waiting == 0
    served.slots.release("a")
    served.slots.admit("b", "b2")
    assert served.started == ["a1", "b2"]
