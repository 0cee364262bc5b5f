"""CWOP: one APRS weather packet over APRS-IS, at most one every five minutes.

For each upload the sink connects to the APRS-IS server (by default CWOP's
rotating ``cwop.aprs.net:14580``), reads the server's banner, logs in with
``user ID pass -1 vers wxstation VERSION`` (or the passcode a call sign needs),
reads the server's ``# logresp`` line, sends one packet and disconnects, as
CWOP asks of stations that report now and then. The packet is a position
report with a time stamp and the weather symbol::

    CW0001>APRS,TCPIP*:@071532z5540.57N/01234.10E_.../...g...t-05h00L123wxstation

``DDHHMMz`` is the sample's own time in UTC; ``_.../...g...`` says the station
measures no wind; ``t`` is degF (``t-05``), ``h`` the humidity (``h00`` for
100 %), ``L``/``l`` the solar radiation in W/m² where a lux factor is given.

A CWOP number (CW, DW, EW... and digits) logs in unverified and its packets are
taken; a call sign whose login the server answers ``unverified`` is refused:
its packets would be dropped, so the upload is kept aside with the server's
answer (:class:`~bridge.sinks.uploads.base.UploadRefusedError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

from bridge.sinks import SinkUnavailableError
from bridge.sinks.uploads.base import CURRENT_MAX_AGE, Pace, UploadRefusedError, UploadSink
from bridge.sinks.uploads.units import Observation, fahrenheit
from wxstation.config import UploadConfig
from wxstation.discovery import bridge_version
from wxstation.problems import redact

__all__ = ["DEFAULT_SERVER", "CwopSink", "login_line", "weather_packet"]

DEFAULT_SERVER = "cwop.aprs.net:14580"
#: Seconds between packets: CWOP takes no more than one every five minutes.
INTERVAL = 300.0
#: Seconds for each step with the server (connect, banner, login answer, send).
APRS_TIMEOUT = 15.0
#: The longest line read from the server: APRS-IS lines are at most 512 bytes.
MAX_LINE = 512
#: CWOP numbers, which need no passcode: what CWOP assigns (CW1234, DW1234, ...).
CWOP_NUMBER = re.compile(r"^[C-Z]W\d+$")
#: The passcode of a login that has none.
NO_PASSCODE = "-1"
#: The packet's comment: which software sends, as APRS weather packets say it.
SOFTWARE = "wxstation"


def _position(value: float, degree_digits: int, hemispheres: str) -> str:
    """``ddmm.hhN`` (latitude) or ``dddmm.hhE`` (longitude), to a hundredth of a minute."""
    hundredths = round(abs(value) * 6000)
    degrees, rest = divmod(hundredths, 6000)
    minutes, fraction = divmod(rest, 100)
    side = hemispheres[0] if value >= 0 else hemispheres[1]
    return f"{degrees:0{degree_digits}d}{minutes:02d}.{fraction:02d}{side}"


def _temperature(celsius: float | None) -> str:
    if celsius is None:
        return "t..."
    value = round(fahrenheit(celsius))
    return f"t-{-value:02d}" if value < 0 else f"t{value:03d}"


def _humidity(percent: float | None) -> str:
    if percent is None:
        return ""
    value = round(percent)
    # APRS has two digits: 100 % is written 00, and 0 % cannot be written.
    return "h00" if value >= 100 else f"h{max(value, 1):02d}"


def _solar(wm2: float | None) -> str:
    if wm2 is None:
        return ""
    value = round(wm2)
    return f"l{value - 1000:03d}" if value >= 1000 else f"L{value:03d}"


def weather_packet(name: str, observation: Observation, latitude: float, longitude: float) -> str:
    """The APRS weather report of one observation, without the line end."""
    stamp = time.strftime("%d%H%Mz", time.gmtime(observation.time_ms // 1000))
    position = f"{_position(latitude, 2, 'NS')}/{_position(longitude, 3, 'EW')}"
    weather = (
        f"_.../...g...{_temperature(observation.temperature)}"
        f"{_humidity(observation.humidity)}{_solar(observation.solar)}"
    )
    return f"{name}>APRS,TCPIP*:@{stamp}{position}{weather}{SOFTWARE}"


def login_line(name: str, passcode: str | None) -> str:
    """The APRS-IS login, without the line end."""
    return f"user {name} pass {passcode or NO_PASSCODE} vers wxstation {bridge_version()}"


class CwopSink(UploadSink):
    label = "CWOP"
    pace = Pace(interval=INTERVAL, backfill=False, max_age=CURRENT_MAX_AGE)

    def __init__(self, upload: UploadConfig, **kwargs: Any) -> None:
        super().__init__(upload, **kwargs)
        host, _, port = (upload.server or DEFAULT_SERVER).rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)

    async def send(self, observation: Observation) -> None:
        assert self.upload.latitude is not None  # the config requires the position
        assert self.upload.longitude is not None
        packet = weather_packet(
            self.upload.id, observation, self.upload.latitude, self.upload.longitude
        )
        where = f"{self.host}:{self.port}"
        try:
            async with asyncio.timeout(APRS_TIMEOUT):
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except (OSError, TimeoutError) as err:
            raise SinkUnavailableError(f"cannot reach {where}: {err or 'timed out'}") from None
        try:
            async with asyncio.timeout(APRS_TIMEOUT):
                await self._session(reader, writer, packet)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as err:
            detail = redact(str(err), [self.upload.key]) or type(err).__name__
            raise SinkUnavailableError(f"{where}: {detail}") from None
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, packet: str
    ) -> None:
        banner = await _line(reader)
        if not banner.startswith("#"):
            raise ValueError(f"not an APRS-IS server: it said {banner[:80]!r}")
        writer.write(f"{login_line(self.upload.id, self.upload.key)}\r\n".encode())
        await writer.drain()
        answer = await _line(reader)
        while answer.startswith("#") and "logresp" not in answer:
            answer = await _line(reader)  # server comments before the answer
        if "logresp" not in answer:
            raise ValueError(f"no answer to the login: {answer[:80]!r}")
        words = redact(answer.lstrip("# "), [self.upload.key])
        unverified = re.search(r"\bunverified\b", answer) is not None
        if unverified and not CWOP_NUMBER.match(self.upload.id):
            raise UploadRefusedError(
                f"{words}: a call sign's packets are dropped without its APRS-IS "
                "passcode; give it as the upload's key",
                credentials=True,
            )
        writer.write(f"{packet}\r\n".encode())
        await writer.drain()


async def _line(reader: asyncio.StreamReader) -> str:
    data = await reader.readline()
    if not data:
        raise ValueError("the server closed the connection")
    return data[:MAX_LINE].decode("ascii", "replace").strip()
