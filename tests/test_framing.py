"""Framing without sockets: the receiver's own :class:`~wxstation.framing.Framer`,
fed one byte at a time and in every split.

The receiver feeds each connection's bytes to a framer as they arrive and stops
reading once it says so; everything it decides is a function of the bytes, so
every split is checked here in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.sim import SimStation
from wxstation.framing import MAX_CAPTURE, Framer
from wxstation.parsers import ReferenceParser
from wxstation.protocol import HEADER_SIZE, MAX_PACKET_SIZE, announced_size, screen

START = 1_790_000_000.0
PACKET = SimStation(1, ReferenceParser(), START, seed=0).wake().packet


def _full_store() -> bytes:
    """The packet of a station that missed a wake-up: its whole store."""
    station = SimStation(255, ReferenceParser(), START, seed=2)
    station.skip(1)
    return station.wake().packet


#: Packets of several sizes: a few samples, an hour's, a full store.
PACKETS = [
    SimStation(7, ReferenceParser(), START, wake_every_s=600, seed=1).wake().packet,
    PACKET,
    _full_store(),
]


def fed(chunks: Iterable[bytes]) -> tuple[Framer, int | None]:
    """A framer fed ``chunks`` until it needs no more, and how many it took
    (None if it still wanted more after the last)."""
    framer = Framer()
    for count, chunk in enumerate(chunks, start=1):
        if framer.feed(chunk):
            return framer, count
    return framer, None


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at each offset of ``cuts`` (sorted, duplicates dropped)."""
    edges = [0, *sorted({cut for cut in cuts if 0 < cut < len(data)}), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(edges)]


def test_announced_size_waits_for_the_header() -> None:
    """Test that the size is unknown until the whole header arrived, then is the
    header and the payload it announces."""
    for end in range(HEADER_SIZE):
        assert announced_size(PACKET[:end]) is None
    assert announced_size(PACKET[:HEADER_SIZE]) == len(PACKET)


@pytest.mark.parametrize("at", range(1, len(PACKET)))
def test_packet_split_anywhere_is_whole(at: int) -> None:
    """Test that a packet split into two writes at any byte completes with the
    second, whole and not refused."""
    framer, count = fed([PACKET[:at], PACKET[at:]])
    assert (framer.data, count, framer.complete, framer.problem) == (PACKET, 2, True, None)


def test_packet_one_byte_at_a_time_is_whole() -> None:
    """Test that a packet written one byte at a time completes with its last
    byte, and not one byte earlier."""
    framer = Framer()
    for byte in PACKET[:-1]:
        assert not framer.feed(bytes([byte]))
        assert not framer.complete
    assert framer.feed(PACKET[-1:])
    assert (framer.data, framer.complete, framer.problem, framer.verdict()) == (
        PACKET,
        True,
        None,
        None,
    )


@given(st.sampled_from(PACKETS), st.lists(st.integers(0, MAX_PACKET_SIZE)))
def test_packet_in_any_split_is_whole(packet: bytes, cuts: list[int]) -> None:
    """Test that a station's packet cut into any number of writes at any bytes
    completes with the last of them, whole and a station's."""
    chunks = split(packet, cuts)
    framer, count = fed(chunks)
    assert (framer.data, count, framer.complete, framer.verdict()) == (
        packet,
        len(chunks),
        True,
        None,
    )


@given(st.sampled_from(PACKETS), st.data())
def test_cut_packet_never_completes(packet: bytes, data: st.DataObject) -> None:
    """Test that a packet whose last bytes never arrive, however the rest was
    split, is neither complete nor refused: the connection's end or silence
    ends it, and once its header is in it is still a station's (its complete
    records count); fewer bytes than a header are not."""
    end = data.draw(st.integers(0, len(packet) - 1), label="end")
    cuts = data.draw(st.lists(st.integers(0, end)), label="cuts")
    framer, count = fed(split(packet[:end], cuts))
    assert (framer.data, count, framer.complete, framer.problem) == (
        packet[:end],
        None,
        False,
        None,
    )
    assert (framer.verdict() is None) == (end >= HEADER_SIZE)


def test_bytes_past_the_announced_size_are_refused() -> None:
    """Test that a byte more than the header announces, in the same write as the
    packet, makes it not a station's, though a station could send that many."""
    one_more = PACKET + b"\x00"
    assert len(one_more) <= MAX_PACKET_SIZE
    framer, count = fed([one_more])
    assert (framer.data, count, framer.complete) == (one_more, 1, False)
    assert framer.problem is not None
    assert "more bytes than bytes_ready announces" in framer.problem


def test_bytes_after_the_packet_in_a_later_write_are_not_looked_at() -> None:
    """Test that once the packet is complete, what a later write brings is not
    taken: the receiver closes the connection there."""
    framer, count = fed([PACKET, b"\x00" * 10])
    assert (framer.data, count, framer.complete, framer.problem) == (PACKET, 1, True, None)
    assert framer.feed(b"more")
    assert framer.data == PACKET


def test_a_flood_is_held_to_the_capture() -> None:
    """Test that a connection sending far more than a station can, in one write,
    is refused with the first MAX_CAPTURE bytes held, and nothing after."""
    flood = bytes(range(256)) * 64
    framer, count = fed([flood, flood])
    assert (framer.data, count, framer.complete) == (flood[:MAX_CAPTURE], 1, False)
    assert framer.problem is not None
    assert f"a station sends at most {MAX_PACKET_SIZE}" in framer.problem


@given(st.binary(max_size=2 * MAX_CAPTURE), st.lists(st.integers(0, 2 * MAX_CAPTURE)))
def test_any_bytes_in_any_split(data: bytes, cuts: list[int]) -> None:
    """Test that for any bytes in any split the framer holds a prefix of them,
    never more than MAX_CAPTURE; that it stops exactly when the bytes so far
    are a whole packet or cannot be a station's (and then says why); and that
    what it never stopped for is all a station's so far."""
    chunks = split(data, cuts)
    framer, count = fed(chunks)
    held = framer.data
    assert len(held) <= MAX_CAPTURE
    if count is None:
        assert held == data
        assert framer.problem is None
        assert screen(data) is None
        return
    assert held == b"".join(chunks[:count])[:MAX_CAPTURE]
    assert framer.complete != (framer.problem is not None)
    if framer.complete:
        assert len(held) == announced_size(held)
        assert framer.verdict() is None
    else:
        assert framer.problem == screen(held) == framer.verdict()
    if count > 1:
        before = b"".join(chunks[: count - 1])
        assert screen(before) is None
        assert len(before) < (announced_size(before) or MAX_PACKET_SIZE + 1)
