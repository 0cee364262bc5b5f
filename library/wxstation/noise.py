"""Traffic that is not a station's: who sends it, what is kept of it, and how it is slowed.

The receiver screens every connection's bytes as they arrive
(:func:`wxstation.protocol.screen`). A station's packet is stored whole, as
always. Anything else gets bounded room of its own, per *source*: an IPv4
address, or an IPv6 /64 (one host can take any address of its /64).

- The first :data:`KEPT_PER_WINDOW` such connections of a source in each
  :data:`WINDOW` are kept (their first :data:`MAX_KEPT_BYTES` bytes) for a
  person to look at, within :func:`budget` for all sources together, oldest
  dropped first (:class:`bridge.spool.Spool` enforces that).
- Every other one is counted: connections, bytes, first and last seen, the
  latest reason and a sample of its first bytes.
- A source that has sent a station's packet within :data:`STATION_MEMORY` is
  a station's: it is never refused. Any other source is refused (its
  connections closed unread) for the rest of a window once it has sent
  :data:`READ_PER_WINDOW` connections that were not a station's, and the
  receiver serves at most ``SLOTS_PER_SOURCE`` of its connections at once.

A plausible packet of a device id the config neither lists nor decodes
(``unknown_stations: keep``), or from outside ``listen.allowed_networks``, is
kept whole, for ``reprocess``: always from a station's source, and otherwise
within the source's :data:`KEPT_PER_WINDOW`; beyond that it is counted like
the rest. A real station left out of the config sends one packet per wake-up,
far below that.

Bookkeeping only, with an injectable clock: no sockets and no I/O. The
receiver asks and tells it; the runtime takes what is to be written
(:meth:`NoiseTracker.drain`). An embedder without a database (the library's
:class:`~wxstation.StationListener`) is handed each kept connection as it
comes instead (``on_kept``), and the counts stay in memory.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "KEPT_DAYS",
    "KEPT_PER_WINDOW",
    "MAX_KEPT_BYTES",
    "MAX_SOURCES",
    "READ_PER_WINDOW",
    "SOURCE_DAYS",
    "STATION_MEMORY",
    "WINDOW",
    "NoiseEntry",
    "NoiseTracker",
    "SourceCount",
    "budget",
    "source_of",
]

log = logging.getLogger(__name__)

#: Seconds over which a source's connections are counted against its limits.
#: Ten minutes: long enough that a flood is refused for a while once it shows,
#: short enough that a device fixed or unplugged is served again soon.
WINDOW = 600.0
#: Connections of a source per window whose bytes are kept: enough to see what
#: is sending (a port scanner, a device speaking another protocol, a station
#: with broken firmware) without keeping a flood.
KEPT_PER_WINDOW = 4
#: Connections per window that a source which is not a station's may send
#: before the rest of its connections in that window are closed unread. A
#: station sends one connection per wake-up (every few minutes at the most),
#: far below this.
READ_PER_WINDOW = 64
#: Bytes kept of one connection: the receiver's own limit for a connection that
#: sends more than a station can (``wxstation.framing.MAX_CAPTURE``).
MAX_KEPT_BYTES = 4096
#: Bytes of a source's latest connection kept with its counts, to tell at a
#: glance what it is (an HTTP request, a TLS hello, random bytes).
SAMPLE_BYTES = 64
#: Seconds a source counts as a station's after it sent a station's packet. A
#: station wakes at least every 65,535 s (the header's u16 wake interval), so
#: two days cover every station's next packet.
STATION_MEMORY = 2 * 86400.0
#: Sources remembered, in memory and in the database (the most recently seen):
#: a LAN has fewer hosts, and a scan of many addresses cannot grow the bridge.
MAX_SOURCES = 1024
#: Days the kept bytes of a connection stay, if the budget does not push them
#: out first: a week to notice and look.
KEPT_DAYS = 7.0
#: Days a source's counts stay after it was last seen.
SOURCE_DAYS = 30.0
#: Share of ``storage.max_size_mb`` that kept bytes of non-station traffic may
#: take, and the most they may take: room for thousands of connections to look
#: at, never a dent in the room for station data.
BUDGET_SHARE = 1 / 32
BUDGET_MAX = 16 * 1024 * 1024
#: Bits of an IPv6 address that name one host's network.
IPV6_SOURCE_PREFIX = 64


def budget(max_size: int) -> int:
    """Bytes that kept connections of non-station traffic may take in a
    database capped at ``max_size`` bytes."""
    return int(min(max_size * BUDGET_SHARE, BUDGET_MAX))


def source_of(host: str) -> str:
    """The source a peer address counts against: the address itself for IPv4,
    its /64 for IPv6 (a host picks any address of its /64 at will)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_SOURCE_PREFIX}", strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class NoiseEntry:
    """The kept bytes of one connection that was not a station's."""

    received_at: float
    peer: str
    source: str
    reason: str
    data: bytes


@dataclass(slots=True)
class SourceCount:
    """What a source sent that was not a station's, since the counts were last
    taken: connections, their bytes (``size``), and the latest one's reason and
    first bytes."""

    source: str
    first_seen: float
    last_seen: float
    connections: int = 0
    size: int = 0
    #: Connections closed unread while the source was refused.
    refused: int = 0
    reason: str = ""
    sample: bytes = b""


@dataclass(slots=True)
class _Source:
    window_start: float
    station_seen: float | None = None
    #: This window: connections that were not a station's, and those kept.
    screened: int = 0
    kept: int = 0
    logged: bool = False
    refusal_logged: bool = False
    #: Counts not yet taken by :meth:`NoiseTracker.drain`.
    count: SourceCount | None = None


@dataclass
class NoiseTracker:
    """Per-source limits and counts of traffic that is not a station's.

    ``on_kept`` takes each kept connection at once, instead of holding it for
    :meth:`drain`: for an embedder with no database to write it to.
    """

    clock: Callable[[], float] = time.time
    on_kept: Callable[[NoiseEntry], None] | None = None
    _sources: dict[str, _Source] = field(default_factory=dict)
    _kept: list[NoiseEntry] = field(default_factory=list)

    def _source(self, source: str) -> _Source:
        """The source's state, its window started anew when the last one ended."""
        now = self.clock()
        state = self._sources.pop(source, None)
        if state is None:
            state = _Source(now)
            while len(self._sources) >= MAX_SOURCES:
                # The least recently seen goes; what it had not had written goes too.
                del self._sources[next(iter(self._sources))]
        elif not state.window_start <= now < state.window_start + WINDOW:
            state.window_start = now
            state.screened = state.kept = 0
            state.logged = state.refusal_logged = False
        self._sources[source] = state  # the most recently seen last
        return state

    def is_station(self, source: str) -> bool:
        """True while the source is a station's (it is then never limited)."""
        state = self._sources.get(source)
        seen = state.station_seen if state is not None else None
        return seen is not None and 0 <= self.clock() - seen < STATION_MEMORY

    def station(self, source: str, at: float | None = None) -> None:
        """The source sent a station's packet (now, or ``at``)."""
        self._source(source).station_seen = self.clock() if at is None else at

    def refuses(self, source: str) -> bool:
        """True when the source's next connection is to be closed unread."""
        if source not in self._sources or self.is_station(source):
            return False
        return self._source(source).screened >= READ_PER_WINDOW

    def refused(self, source: str) -> None:
        """A connection of the source was closed unread."""
        state = self._source(source)
        self._count(source, state).refused += 1

    def not_a_station(
        self, source: str, peer: str, data: bytes, reason: str, *, plausible: bool = False
    ) -> bool:
        """A connection of the source sent what is not a station's packet.

        ``plausible``: the bytes could be a station's, from a device the config
        does not know. Returns True when the caller is to store the bytes whole
        as a packet (kept aside for ``reprocess``); otherwise they are kept here
        (:meth:`drain`) or only counted.
        """
        state = self._source(source)
        station = self.is_station(source)
        now = self.clock()
        count = self._count(source, state)
        count.connections += 1
        count.size += len(data)
        count.reason = reason
        if data:
            count.sample = data[:SAMPLE_BYTES]
        state.screened += 1
        keep = state.kept < KEPT_PER_WINDOW
        if keep:
            state.kept += 1
        if not state.logged:
            state.logged = True
            what = "kept" if keep or (plausible and station) else "counted"
            log.warning(
                "%s sent what is not a station's packet: %s; %s (%sat most one such line "
                "per %.0f minutes for this address)",
                peer,
                reason,
                what,
                "see 'wxstation-bridge status'; " if self.on_kept is None else "",
                WINDOW / 60,
            )
        if not station and state.screened == READ_PER_WINDOW and not state.refusal_logged:
            state.refusal_logged = True
            log.warning(
                "%s: %d connections in %.0f s were not a station's packets; its "
                "connections are closed unread until %s UTC. If it is a station, check its "
                "firmware and address; if not, stop or block it, or narrow "
                "listen.allowed_networks",
                source,
                state.screened,
                now - state.window_start,
                time.strftime("%H:%M:%S", time.gmtime(state.window_start + WINDOW)),
            )
        if plausible and (station or keep):
            return True
        if keep and data:
            entry = NoiseEntry(now, peer, source, reason, data[:MAX_KEPT_BYTES])
            if self.on_kept is None:
                self._kept.append(entry)
            else:
                self.on_kept(entry)
        return False

    def _count(self, source: str, state: _Source) -> SourceCount:
        now = self.clock()
        if state.count is None:
            state.count = SourceCount(source, now, now)
        state.count.last_seen = now
        return state.count

    def drain(self) -> tuple[list[NoiseEntry], list[SourceCount]]:
        """What is to be written since the last call: kept connections and counts."""
        kept, self._kept = self._kept, []
        counts = []
        for state in self._sources.values():
            if state.count is not None:
                counts.append(state.count)
                state.count = None
        return kept, counts
