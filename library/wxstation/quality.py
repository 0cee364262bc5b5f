"""A station's values made trustworthy: calibrated, then held to their plausible range.

The step after conversion, before timing and storage. Per station the config
may give each field a correction (``calibrate: {temperature: {offset: -0.4}}``:
``value * scale + offset``) and a range of plausible values (``range:
{temperature: [-30, 50]}``); a field without a configured range has its
sensor's measurement range, where the parser's :class:`~wxstation.parsers.Field`
gives one. A value outside its range is no reading (a bit error, a sensor that
lost power): it is taken out of the sample and named in the batch, so it is
neither stored nor published as the field's value, and the packet's raw bytes
keep it for a later ``reprocess``. Derived values (dew point) are computed
again from the corrected values, and are held to their ranges too.

Pure code: the same decoded values and settings always give the same result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wxstation.parsers import StationParser

__all__ = ["Calibration", "OutOfRange", "Quality"]


@dataclass(frozen=True, slots=True)
class Calibration:
    """A field's correction: ``value * scale + offset``."""

    offset: float = 0.0
    scale: float = 1.0

    def apply(self, value: float) -> float:
        return value * self.scale + self.offset


@dataclass(frozen=True, slots=True)
class OutOfRange:
    """A value that was outside its plausible range: which sample, field and value."""

    time_ms: int
    key: str
    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "time_ms": self.time_ms,
            "key": self.key,
            "value": self.value,
            "low": self.low,
            "high": self.high,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OutOfRange:
        return cls(
            int(data["time_ms"]),
            str(data["key"]),
            float(data["value"]),
            float(data["low"]),
            float(data["high"]),
        )


@dataclass(frozen=True, slots=True)
class Quality:
    """What a station's values go through after conversion."""

    parser: StationParser
    #: Corrections of the station's own fields, by key.
    calibrate: Mapping[str, Calibration] = field(default_factory=dict)
    #: Plausible (lowest, highest) per key, the configured ones over the
    #: parser's defaults; a key without one has no limit.
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        parser: StationParser,
        calibrate: Mapping[str, Calibration] | None = None,
        ranges: Mapping[str, tuple[float, float]] | None = None,
    ) -> Quality:
        """The settings of a station: ``ranges`` override the fields' own."""
        defaults = {f.key: f.range for f in parser.all_fields if f.range is not None}
        return cls(parser, dict(calibrate or {}), {**defaults, **(ranges or {})})

    def check(self, values: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
        """The sample's values corrected and within range, and those out of range.

        ``values`` is a decoded sample, derived values included; it is returned
        as it is when nothing needs correcting or taking out (the usual case,
        which costs one comparison per ranged value), else left unchanged.
        """
        if not self.calibrate:
            for key, (low, high) in self.ranges.items():
                value = values.get(key)
                if value is not None and not low <= value <= high:
                    break
            else:
                return values, {}
        sample = dict(values)
        for key, calibration in self.calibrate.items():
            if key in sample:
                sample[key] = calibration.apply(sample[key])
        outside = self._outside(sample)
        derived = self.parser.derived
        if derived and (self.calibrate or outside):
            # Computed from the values as they were decoded: again, from the
            # corrected ones, and none from a value that is no reading.
            for extra in derived:
                key = extra.field.key
                sample.pop(key, None)
                outside.pop(key, None)
                value = extra.compute(sample)
                if value is not None:
                    sample[key] = value
            outside.update(self._outside(sample))
        return sample, outside

    def _outside(self, values: dict[str, float]) -> dict[str, float]:
        """Take the values outside their range out of ``values``, and return them."""
        outside = {}
        for key, (low, high) in self.ranges.items():
            value = values.get(key)
            if value is not None and not low <= value <= high:
                outside[key] = values.pop(key)
        return outside
