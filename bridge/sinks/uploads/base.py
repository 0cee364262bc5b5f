"""What every upload shares: which samples go up, at what pace, and what a refusal does.

An upload is a sink (:class:`bridge.sinks.Sink`) of one station to one network.
The runtime hands it every batch in order and saves its progress when
:meth:`UploadSink.deliver` returns; the sink sends what the network takes of
those batches, at the rate the network allows, and returns (a network that
takes past observations is handed one batch at a time, so a delivery lasts
one packet's uploads):

- a network that takes past observations (:attr:`Pace.backfill`) gets every
  sample newer than the last one it got (at most one per :data:`SAMPLE_SPACING`
  seconds of the samples' time), oldest first, each with its own time, one
  request at least :attr:`Pace.interval` seconds after the one before. An
  hour's packet, or a backlog after an outage, goes up in order at that rate;
- a network that takes only the present gets the newest sample of the batches,
  with its own time, when :attr:`Pace.interval` has passed since its last upload
  and the sample is at most :attr:`Pace.max_age` old. Batches that come sooner
  are passed over: the samples stay in the bridge's database, and the next
  packet brings newer ones. A value taken earlier is never sent as "now".

The sink remembers the time of the newest sample the network took and sends
only newer ones, so a batch delivered again after a failure (the runtime
retries the whole delivery) never sends a sample twice. When the network
refuses the id or key, the upload raises :class:`~bridge.sinks.SinkRejectedError`
with the network's answer (the runtime keeps the batch aside and shows the
reason), logs it once, and refuses the batches that follow without asking the
network again for :data:`REFUSAL_RECHECK` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from bridge.sinks import Sink, SinkRejectedError
from bridge.sinks.uploads.units import Observation, observations
from wxstation.config import UploadConfig
from wxstation.problems import Problem, upload_refused
from wxstation.samples import Batch, format_time

__all__ = [
    "BACKFILL_BATCH_LIMIT",
    "CURRENT_MAX_AGE",
    "PRESENT_BATCH_LIMIT",
    "REFUSAL_RECHECK",
    "SAMPLE_SPACING",
    "Pace",
    "UploadRefusedError",
    "UploadSink",
]

log = logging.getLogger(__name__)

#: Batches handed to one delivery of a network that takes past observations:
#: one, as a packet's samples go up one request each (an hour's packet of a
#: reference station is 30 requests, a minute or two), so progress is saved
#: after every packet and a restart sends at most one packet's samples again.
BACKFILL_BATCH_LIMIT = 1
#: ... and of a present-only network, which sends at most one sample per
#: delivery: a backlog is passed over in few, quick deliveries.
PRESENT_BATCH_LIMIT = 200
#: Least seconds between the times of two samples sent to a network that takes
#: past observations: the networks show a station at minute resolution at best
#: (the reference station samples every two minutes), and at a request every
#: few seconds the uploads then run ten times faster than any station's data,
#: so a network's rate never leaves its upload behind a fast-sampling station.
#: A little under a minute: a station measuring every minute whose watchdog
#: runs a few percent fast still has every sample sent.
SAMPLE_SPACING = 55.0
#: Seconds between asking a network that refused the id or key again: a key
#: fixed on the network's site is used within this time, and a wrong one costs
#: the network a handful of requests an hour.
REFUSAL_RECHECK = 600.0
#: Seconds a sample may be old and still go up as a present-only network's
#: newest observation: CWOP's servers take a packet's arrival for its time (the
#: time stamp in it is widely ignored), so an older value would be shown as
#: now; and a packet's newest sample is seconds old when it arrives.
CURRENT_MAX_AGE = 600.0


class UploadRefusedError(SinkRejectedError):
    """The network refused the upload; ``credentials`` when it refused the id or
    key (every upload is refused alike until that is fixed)."""

    def __init__(self, reason: str, *, credentials: bool, problem: Problem | None = None) -> None:
        super().__init__(reason, problem)
        self.credentials = credentials


@dataclass(frozen=True, slots=True)
class Pace:
    """How often, and how far back, a network takes observations."""

    #: Least seconds from one upload to the next.
    interval: float
    #: The network takes past observations with their own time.
    backfill: bool
    #: For a network that takes only the present: the oldest sample (seconds)
    #: still worth sending as its newest observation.
    max_age: float | None = None


class UploadSink(Sink):
    """One station's uploads to one network; a network's module says how one goes up."""

    #: The network's name, as its users know it.
    label: ClassVar[str]
    pace: ClassVar[Pace]
    #: The network takes solar radiation (where the upload gives a lux factor).
    takes_solar: ClassVar[bool] = True

    def __init__(
        self,
        upload: UploadConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.upload = upload
        self.name = upload.name
        self.batch_limit = BACKFILL_BATCH_LIMIT if self.pace.backfill else PRESENT_BATCH_LIMIT
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        #: The newest sample the network took, and when (``clock``) the last
        #: upload went.
        self._newest_ms = 0
        self._sent_at: float | None = None
        #: The network's refusal of the id or key, and when it came.
        self._refusal: UploadRefusedError | None = None
        self._refused_at = 0.0
        #: The problem last logged, so each is logged once.
        self._problem: str | None = None

    @abstractmethod
    async def send(self, observation: Observation) -> None:
        """Upload one observation; raise :class:`~bridge.sinks.SinkUnavailableError`
        or :class:`UploadRefusedError`."""

    def describe(self) -> str:
        """The upload as a log line names it."""
        return f"{self.label} ({self.upload.id}, station {self.upload.station})"

    async def deliver(self, batches: Sequence[Batch]) -> None:
        due = self._due(observations(batches, self.upload.station, self.upload.lux_to_wm2))
        if not due:
            return
        if self._refusal is not None and self._clock() - self._refused_at < REFUSAL_RECHECK:
            raise self._with_problem(self._refusal)
        for observation in due:
            await self._wait_turn()
            try:
                await self.send(observation)
            except UploadRefusedError as err:
                self._refused(err)
                raise self._with_problem(err) from err
            self._remember(observation.time_ms)
        if self._problem is not None:
            log.info("%s takes uploads again", self.describe())
            self._problem = self._refusal = None

    def _remember(self, time_ms: int) -> None:
        self._newest_ms = max(self._newest_ms, time_ms)
        self._sent_at = self._clock()

    def _due(self, found: list[Observation]) -> list[Observation]:
        """What of these observations goes up now, by :attr:`pace`."""
        if self.pace.backfill:
            return self._spaced(found)
        if not found or found[-1].time_ms <= self._newest_ms:
            return []
        newest = found[-1]
        if self._sent_at is not None and self._clock() - self._sent_at < self.pace.interval:
            log.debug(
                "%s: passed over the sample of %s, sooner than its interval",
                self.describe(),
                format_time(newest.time_ms),
            )
            return []
        age = self._wall() - newest.time_ms / 1000
        if self.pace.max_age is not None and age > self.pace.max_age:
            log.debug(
                "%s: passed over the sample of %s, %.0f s old",
                self.describe(),
                format_time(newest.time_ms),
                age,
            )
            return []
        return [newest]

    def _spaced(self, found: list[Observation]) -> list[Observation]:
        """The observations newer than the network's newest, at least
        :data:`SAMPLE_SPACING` apart, oldest first."""
        spacing_ms = round(SAMPLE_SPACING * 1000)
        chosen = []
        after = self._newest_ms
        for one in found:
            if one.time_ms > after and (after == 0 or one.time_ms >= after + spacing_ms):
                chosen.append(one)
                after = one.time_ms
        return chosen

    async def _wait_turn(self) -> None:
        """Wait until the network's interval has passed since the last upload."""
        if self._sent_at is None:
            return
        wait = self._sent_at + self.pace.interval - self._clock()
        if wait > 0:
            await self._sleep(wait)

    def _with_problem(self, err: UploadRefusedError) -> UploadRefusedError:
        """``err`` with the problem a person reads of it (the key never in it)."""
        problem = upload_refused(
            self.upload, self.label, err.reason, self._wall(), credentials=err.credentials
        )
        return UploadRefusedError(err.reason, credentials=err.credentials, problem=problem)

    def _refused(self, err: UploadRefusedError) -> None:
        if err.credentials:
            self._refusal, self._refused_at = err, self._clock()
        if err.reason == self._problem:
            return
        self._problem = err.reason
        if err.credentials:
            log.error(
                "%s refuses the station's id or key: %s. Its uploads are kept aside "
                "(see status); the network is asked again every %.0f minutes",
                self.describe(),
                err.reason,
                REFUSAL_RECHECK / 60,
            )
        else:
            log.error("%s refused an observation: %s", self.describe(), err.reason)
