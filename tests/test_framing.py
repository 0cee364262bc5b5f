"""Framing without sockets: where one connection's packet ends, however it is split.

The receiver reads a connection until the header's announced size arrived or
:func:`~bridge.protocol.screen` says the bytes cannot be a station's; both are
pure functions of the bytes so far, so every split is checked here in memory.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from bridge.parsers import ReferenceParser
from bridge.protocol import HEADER_SIZE, MAX_PACKET_SIZE, announced_size, screen
from bridge.sim import SimStation

PACKET = SimStation(1, ReferenceParser(), 1_790_000_000.0, seed=0).wake().packet


def frame(chunks: Iterable[bytes]) -> tuple[bytes, int | None, str | None]:
    """Feed ``chunks`` as a connection delivers them: the bytes gathered, how many
    chunks it took to complete the packet (None if it never did), and why the
    bytes cannot be a station's, if they cannot."""
    data = bytearray()
    for count, chunk in enumerate(chunks, start=1):
        data += chunk
        if (problem := screen(data)) is not None:
            return bytes(data), None, problem
        expected = announced_size(data)
        if expected is not None and len(data) >= expected:
            return bytes(data), count, None
    return bytes(data), None, None


def test_announced_size_waits_for_the_header() -> None:
    """Test that the size is unknown until the whole header arrived, then is the
    header and the payload it announces."""
    for end in range(HEADER_SIZE):
        assert announced_size(PACKET[:end]) is None
    assert announced_size(PACKET[:HEADER_SIZE]) == len(PACKET)


@pytest.mark.parametrize("split", range(1, len(PACKET)))
def test_packet_split_anywhere_is_whole(split: int) -> None:
    """Test that a packet split into two writes at any byte completes with the
    second, whole and not refused."""
    assert frame([PACKET[:split], PACKET[split:]]) == (PACKET, 2, None)


def test_packet_one_byte_at_a_time_is_whole() -> None:
    """Test that a packet written one byte at a time completes with its last byte."""
    chunks = [PACKET[i : i + 1] for i in range(len(PACKET))]
    assert frame(chunks) == (PACKET, len(PACKET), None)


def test_cut_packet_never_completes() -> None:
    """Test that a packet whose last bytes never arrive is not complete, nor refused:
    the connection's end or silence ends it, and its complete records count."""
    chunks = [PACKET[i : i + 1] for i in range(len(PACKET) - 1)]
    assert frame(chunks) == (PACKET[:-1], None, None)


def test_bytes_past_the_announced_size_are_refused() -> None:
    """Test that a byte more than the header announces, in the same write as the
    packet, makes it not a station's, though a station could send that many."""
    one_more = PACKET + b"\x00"
    assert len(one_more) <= MAX_PACKET_SIZE
    data, complete, problem = frame([one_more])
    assert (data, complete) == (one_more, None)
    assert problem is not None
    assert "more bytes than bytes_ready announces" in problem
