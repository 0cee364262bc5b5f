"""What the tests (and the benchmark, bench/) share; test modules import from here,
never from each other.

- ``servers``: real Mosquitto, InfluxDB 1.x and VictoriaMetrics on free loopback ports.
- ``bridge``: the bridge in the test's event loop (``running_bridge``), or as a
  process of its own (``bridge_process``), and its config files.
- ``waiting``: the one polling rule, ``wait_until`` (blocking) and ``eventually``
  (in an event loop).
- ``mqtt``: a subscriber that keeps every message (``Watcher``), what a broker
  retains, and the bridge's MQTT sink running.
- ``ledger``: the counts in the bridge's database that no data loss is judged by.
- ``floods``: floods of traffic that is not a station's, against a bridge process.
- ``vectors``: the test vectors of tests/vectors and their parsers.
- ``clock``: a clock the test moves by hand.
- ``custom_parser``: a user's own station parser, named in configs by import path.
- ``capture``: capture files, as ``export --raw`` writes and ``ingest`` reads them.
- ``web``: stations that send to a running bridge, and reading its status page.
- ``browser``: Debian's Chromium, headless, through Selenium.
- ``containers``: the container images built (``scripts/image``) and run with podman.
- ``supervisor``: stand-ins for Home Assistant's Supervisor API and ingress proxy.
- ``release``: both distributions' sdists and wheels, built as the release builds them.
"""
