"""The receiver on its own, over real sockets: what it hands over when it stops."""

from __future__ import annotations

import asyncio
import socket

import pytest

from bridge.sim import SimStation
from tests.support.waiting import eventually
from wxstation import receiving
from wxstation.config import ListenConfig
from wxstation.packets import Received
from wxstation.parsers import ReferenceParser
from wxstation.receiving import Receiver

PACKET = SimStation(1, ReferenceParser(), 1_790_000_000.0, seed=0).wake().packet


async def test_stop_hands_over_what_connections_still_open_sent() -> None:
    """Test that a connection still sending when the receiver stops is served
    within the grace if it finishes, and otherwise cut off once the grace is
    over with what it sent handed over (a cut packet's records are samples)."""
    handed: list[Received] = []
    receiver = Receiver(ListenConfig(host="127.0.0.1", port=0), handed.append)
    await receiver.start()
    loop = asyncio.get_running_loop()
    with socket.create_connection(("127.0.0.1", receiver.port)) as sock:
        sock.setblocking(False)
        await loop.sock_sendall(sock, PACKET[:100])
        await eventually(lambda: receiver.connections == 1, what="the connection read")
        await receiver.stop(grace=0.2)
    assert [item.data for item in handed] == [PACKET[:100]]
    assert not receiver.listening


async def test_a_connection_finishing_within_the_grace_is_whole() -> None:
    """Test that a station that finishes its packet during the stop's grace is
    handed over whole."""
    handed: list[Received] = []
    receiver = Receiver(ListenConfig(host="127.0.0.1", port=0), handed.append)
    await receiver.start()
    loop = asyncio.get_running_loop()
    with socket.create_connection(("127.0.0.1", receiver.port)) as sock:
        sock.setblocking(False)
        await loop.sock_sendall(sock, PACKET[:100])
        await eventually(lambda: receiver.connections == 1, what="the connection read")
        stopping = asyncio.create_task(receiver.stop(grace=10))
        await asyncio.sleep(0.5)
        await loop.sock_sendall(sock, PACKET[100:])
        await asyncio.wait_for(stopping, 10)
    assert [item.data for item in handed] == [PACKET]


async def test_a_turn_takes_a_bounded_share_of_the_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test that one turn of accepting takes at most ACCEPTS_PER_TURN connections
    off the backlog, and no more once ACCEPT_TURN seconds have passed however
    few it took: the rest wait for the next turn, and every one is served."""
    handed: list[Received] = []
    receiver = Receiver(ListenConfig(host="127.0.0.1", port=0), handed.append)
    await receiver.start()
    (listening,) = receiver._sockets
    # The test takes the turns itself.
    receiver.loop.remove_reader(listening.fileno())
    waiting = receiving.ACCEPTS_PER_TURN + 3
    peers = [socket.create_connection(("127.0.0.1", receiver.port)) for _ in range(waiting)]
    try:
        for sock in peers:
            sock.sendall(PACKET)
            sock.shutdown(socket.SHUT_WR)
        assert receiver._accept_some(listening)
        assert len(receiver._open) == receiving.ACCEPTS_PER_TURN
        monkeypatch.setattr(receiving, "ACCEPT_TURN", 0.0)
        assert receiver._accept_some(listening)
        assert len(receiver._open) + len(handed) == receiving.ACCEPTS_PER_TURN + 1
        monkeypatch.setattr(receiving, "ACCEPT_TURN", 60.0)
        assert not receiver._accept_some(listening)
        await eventually(lambda: len(handed) == waiting, what="every connection handed over")
    finally:
        for sock in peers:
            sock.close()
        await receiver.stop()
    assert {item.data for item in handed} == {PACKET}
