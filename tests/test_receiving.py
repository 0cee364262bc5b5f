"""The receiver on its own, over real sockets: what it hands over when it stops."""

from __future__ import annotations

import asyncio
import socket

from bridge.sim import SimStation
from tests.support.waiting import eventually
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
