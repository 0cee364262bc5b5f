"""What the bridge knows about one value a station reports."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Field"]


@dataclass(frozen=True, slots=True)
class Field:
    """One value a station reports, with what the sinks need to present it.

    ``device_class``, ``unit``, ``state_class`` and ``precision`` follow Home
    Assistant's sensor vocabulary, so discovery and the integration can use them
    as they are. ``range`` is the default of the station's plausible range for
    the value (``stations -> ID -> range`` in the config overrides it).
    """

    key: str
    name: str | None = None
    unit: str | None = None
    device_class: str | None = None
    state_class: str | None = "measurement"
    precision: int | None = None
    icon: str | None = None
    #: The values the sensor can give (its datasheet's measurement range), as
    #: (lowest, highest); a value outside it is no reading. None: no limit known.
    range: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        """Human name: the configured one, else the key made readable."""
        return self.name or self.key.replace("_", " ").capitalize()
