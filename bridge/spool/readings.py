"""A decoded packet's samples as one row: their times and values as compact arrays.

Pure code, no SQL: ``sample_store.py`` and ``export.py`` write and read the
``readings`` table's columns with these functions, and the schema's upgrade
from schema 2 fills it with them.

- ``keys``: the value names, a JSON list, in the order the samples give them;
- ``times``: one little-endian int64 per sample, its time in unix milliseconds;
- ``values``: per sample, one little-endian float64 per key; NaN where the
  sample has no such value (a parser never passes NaN on as a value, see
  :class:`wxstation.parsers.base.Decoded`).

About 8 bytes per time and per value: a packet of 30 samples of three values
is one row of 960 bytes, where schema 2 had 30 rows of a JSON text each and two
index entries per sample. Beside it, ``sample_times`` keeps one narrow key per
sample (station, time, batch): the one-sample-per-station-and-time rule.
"""

from __future__ import annotations

import functools
import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from wxstation.samples import Sample

__all__ = ["Packed", "pack", "unpack", "unpack_times"]

_NAN = math.nan


@dataclass(frozen=True, slots=True)
class Packed:
    """The columns of one ``readings`` row, and what is looked up by."""

    keys: str
    times: bytes
    values: bytes
    first_ms: int
    last_ms: int
    count: int


@functools.lru_cache(maxsize=64)
def _format(code: str, count: int) -> struct.Struct:
    return struct.Struct(f"<{count}{code}")


@functools.lru_cache(maxsize=256)
def _keys(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def pack(samples: Sequence[Sample]) -> Packed:
    """The row of ``samples`` (at least one). Values are stored as floats."""
    keys: dict[str, None] = {}
    for sample in samples:
        keys.update(dict.fromkeys(sample.values))
    names = tuple(keys)
    values = [float(sample.values.get(name, _NAN)) for sample in samples for name in names]
    times = [sample.time_ms for sample in samples]
    return Packed(
        keys=json.dumps(names),
        times=_format("q", len(times)).pack(*times),
        values=_format("d", len(values)).pack(*values),
        first_ms=min(times),
        last_ms=max(times),
        count=len(times),
    )


def unpack_times(times: bytes) -> tuple[int, ...]:
    """The times of a row's ``times`` column."""
    return _format("q", len(times) // 8).unpack(times)


def unpack(keys: str, times: bytes, values: bytes) -> list[Sample]:
    """The samples of a row, in the order they were packed."""
    names = _keys(keys)
    width = len(names)
    numbers = _format("d", len(values) // 8).unpack(values)
    stamps = unpack_times(times)
    if width == 0:
        return [Sample(time_ms, {}) for time_ms in stamps]
    # NaN is the one value unequal to itself: it marks an absent value.
    if all(number == number for number in numbers):
        return [
            Sample(time_ms, dict(zip(names, numbers[i : i + width], strict=True)))
            for time_ms, i in zip(stamps, range(0, len(numbers), width), strict=True)
        ]
    return [
        Sample(
            time_ms,
            {
                name: number
                for name, number in zip(names, numbers[i : i + width], strict=True)
                if number == number
            },
        )
        for time_ms, i in zip(stamps, range(0, len(numbers), width), strict=True)
    ]
