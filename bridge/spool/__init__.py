"""The bridge's SQLite database: every packet as received, and all that follows from it.

One module per group of tables, each an object built with what it needs;
:class:`Spool` (``database.py``) owns the connection and holds them, as
``spool.packets``, ``spool.samples``, ``spool.progress``, ``spool.noise``,
``spool.export`` and ``spool.history``.

- ``schema.py``: the tables, the schema's version, opening the database and
  upgrading an older one in place.
- ``packets.py``: ``packets``, what each connection delivered, committed
  before anything else is done with it (rows of :class:`wxstation.packets.StoredPacket`).
- ``sample_store.py``: ``batches``, ``readings`` (a decoded packet's samples,
  at most one per station and time), ``conflicts`` and the stations' clocks
  (:class:`StoredBatch`, :class:`wxstation.packets.Conflict`); old samples pruned.
- ``readings.py``: pure: a packet's samples as one ``readings`` row of compact
  arrays, and back.
- ``sink_progress.py``: ``sink_progress`` and ``rejected``, where each sink is
  and what it refused for good.
- ``noise_store.py``: ``noise_sources`` and ``noise_kept``, traffic that was
  not a station's (:class:`NoisySource`); the first room given back.
- ``export.py``: samples and raw packets read out.
- ``giving_way.py``: ``size_readings`` and ``removed_history``; at the cap,
  the delivered decoded history that gives way, and the growth projection.
- ``salvage.py``: a damaged database told apart, moved aside, and what can be
  read of it copied into a fresh one; ``pages.py``: pure, the rows of an
  SQLite file read page by page for that.
- ``base.py``: the handle to the connection, transactions, and SQLite's errors
  turned into :class:`~bridge.errors.DatabaseError`, which every public method
  raises.
"""

from bridge.spool.database import Spool
from bridge.spool.noise_store import NoisySource
from bridge.spool.sample_store import StoredBatch

__all__ = [
    "NoisySource",
    "Spool",
    "StoredBatch",
]
