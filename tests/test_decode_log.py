"""The decoded packets' log lines: one a packet at a station's pace, summed up
when a window holds more than a reader can use (bridge/runtime/decode_log.py)."""

from __future__ import annotations

import logging

import pytest

from bridge.runtime.decode_log import LOG_LINES_PER_WINDOW, LOG_WINDOW, DecodeLog
from bridge.sim import SimStation
from wxstation.config import parse_config
from wxstation.decoding import DecodeResult, decode_one
from wxstation.packets import StoredPacket
from wxstation.parsers import ReferenceParser
from wxstation.timing import StationClock

START = 1_790_000_000.0


def decoded(count: int, stations: int = 5) -> list[DecodeResult]:
    """``count`` packets of ``stations`` stations, decoded as the bridge decodes them."""
    config = parse_config({})
    clocks: dict[int, StationClock] = {}
    sims = [SimStation(1 + i, ReferenceParser(), START, seed=i) for i in range(stations)]
    results = []
    for number in range(count):
        sim = sims[number % stations]
        wake = sim.wake()
        sim.delivered()
        packet = StoredPacket(
            number + 1, wake.packet, wake.arrival, "10.0.0.9:4000", None, "new", None
        )
        results.append(decode_one(config, clocks, packet))
    return results


class Clock:
    """Monotonic seconds that the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wxstation.decoding"]


def test_a_packet_a_line_at_a_stations_pace(caplog: pytest.LogCaptureFixture) -> None:
    """Test that packets up to the window's share each get their own line, as ever,
    and no summary is written when nothing was held back."""
    caplog.set_level(logging.INFO, logger="wxstation.decoding")
    clock = Clock()
    log = DecodeLog(clock)
    results = decoded(LOG_LINES_PER_WINDOW)
    for result in results:
        log.log([result])
        clock.now += 0.1
    clock.now += LOG_WINDOW
    log.flush()
    written = lines(caplog)
    assert len(written) == LOG_LINES_PER_WINDOW
    assert all(" samples " in line and "more packets" not in line for line in written)


def test_a_flood_of_packets_is_summed_up_once_a_window(caplog: pytest.LogCaptureFixture) -> None:
    """Test that past the window's share, the window's other routine packets are
    counted and one line says how many, with their samples and stations; the next
    window starts logging each packet again."""
    caplog.set_level(logging.INFO, logger="wxstation.decoding")
    clock = Clock()
    log = DecodeLog(clock)
    results = decoded(LOG_LINES_PER_WINDOW + 100)
    log.log(results[: LOG_LINES_PER_WINDOW + 60])
    clock.now += 1
    log.log(results[LOG_LINES_PER_WINDOW + 60 :])
    assert len(lines(caplog)) == LOG_LINES_PER_WINDOW
    clock.now += LOG_WINDOW
    log.log(decoded(1))
    written = lines(caplog)
    assert len(written) == LOG_LINES_PER_WINDOW + 2
    summary = written[LOG_LINES_PER_WINDOW]
    assert summary.startswith("100 more packets decoded in 11 s (3000 samples from 5 stations)")
    assert " samples " in written[-1]


def test_packets_worth_a_warning_are_never_summed_up(caplog: pytest.LogCaptureFixture) -> None:
    """Test that a packet kept aside gets its own warning even in a flood."""
    caplog.set_level(logging.INFO, logger="wxstation.decoding")
    log = DecodeLog(Clock())
    log.log(decoded(LOG_LINES_PER_WINDOW + 10))
    bad = StoredPacket(999, b"\x01\x02", START, "10.0.0.9:4000", None, "new", None)
    log.log([decode_one(parse_config({}), {}, bad)])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "packet 999 from 10.0.0.9:4000 kept aside" in warnings[0].getMessage()
    log.flush(final=True)
    assert "10 more packets decoded" in lines(caplog)[-1]
