"""Framing: where one connection's packet ends, and when its bytes cannot be a station's.

A station connects, writes one packet and closes; the network may split it
anywhere. A :class:`Framer` is fed a connection's bytes as they arrive and says
when no more are needed: the header's announced size arrived
(:func:`~wxstation.protocol.announced_size`), or the bytes so far cannot be a
station's (:func:`~wxstation.protocol.screen`). Pure code, no sockets, clocks or
I/O: the receiver (:mod:`wxstation.receiving`) feeds it from its sockets,
the tests feed it one byte at a time and in every split.
"""

from __future__ import annotations

from wxstation.noise import MAX_KEPT_BYTES
from wxstation.protocol import announced_size, screen

__all__ = ["MAX_CAPTURE", "Framer"]

#: Bytes held of one connection. A station sends at most
#: :data:`~wxstation.protocol.MAX_PACKET_SIZE`, so only a connection that is not a
#: station's reaches this: enough of it is kept to see what it was (the noise
#: tracker keeps as many), and a flood cannot make the bridge hold more.
MAX_CAPTURE = MAX_KEPT_BYTES


class Framer:
    """One connection's bytes, fed as they arrive.

    :meth:`feed` answers whether the connection needs reading on; once it does
    not, its packet is :attr:`complete` or :attr:`problem` says why its bytes
    cannot be a station's. Bytes fed after that are not looked at: the receiver
    closes the connection there. When the connection ends before (it closed,
    went silent or ran out of time), :meth:`verdict` judges all it sent.
    """

    __slots__ = ("_data", "_expected", "_problem")

    def __init__(self) -> None:
        self._data = bytearray()
        self._expected: int | None = None
        self._problem: str | None = None

    def feed(self, chunk: bytes) -> bool:
        """Take the connection's next bytes; True once it needs no more."""
        if self.done:
            return True
        room = MAX_CAPTURE - len(self._data)
        self._data += memoryview(chunk)[:room]
        self._problem = screen(self._data)
        if self._expected is None:
            self._expected = announced_size(self._data)
        return self.done

    @property
    def done(self) -> bool:
        """True once the packet is complete or the bytes cannot be a station's."""
        return self._problem is not None or self.complete

    @property
    def complete(self) -> bool:
        """True once exactly the bytes the header announces arrived."""
        return self._problem is None and len(self._data) == self._expected

    @property
    def problem(self) -> str | None:
        """Why the bytes fed so far cannot be a station's, once they cannot."""
        return self._problem

    @property
    def data(self) -> bytes:
        """The bytes taken: everything fed until :attr:`done`, at most :data:`MAX_CAPTURE`."""
        return bytes(self._data)

    def verdict(self) -> str | None:
        """Why everything the connection sent cannot be a station's packet, or
        None when it can: a cut packet whose header arrived still can (its
        complete records are real samples); fewer bytes than a header cannot."""
        if self.done:
            return self._problem
        return screen(self._data, complete=True)
