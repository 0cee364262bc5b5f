"""The running bridge, as parts with one job each (the README's "How it is built").

- :mod:`~wxstation.receiving`: the stations' TCP connections, each a
  protocol object feeding a framer (:mod:`~wxstation.framing`), with its slots
  (:mod:`~wxstation.slots`) and sockets (:mod:`~wxstation.listening`);
- :mod:`~bridge.runtime.store`: the database, awaited on a thread of its own;
- :mod:`~bridge.runtime.committing`: what connections delivered, committed in groups;
- :mod:`~bridge.runtime.decoder`: new packets decoded and stored, the batches
  kept in memory for the sinks (:mod:`~bridge.runtime.memory`), their log lines
  (:mod:`~bridge.runtime.decode_log`);
- :mod:`~bridge.runtime.delivering`: one driver per sink;
- :mod:`~bridge.runtime.housekeeping`: the room left, capacity, noise, retention;
- :mod:`~bridge.runtime.status`: what the running bridge shows, read-only;
- :mod:`~bridge.runtime.assembly`: the parts built, connected, started and stopped.

Each part gets its collaborators when it is built; none sets another's attributes.
"""
