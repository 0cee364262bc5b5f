"""What every station parser shares, in the spirit of the original ``generalParser``.

The base class reads the header, checks the record shape against the station's
layout, walks the complete records (salvaging those of a cut packet) and adds the
derived values a station is configured with. What one record means is left to
:meth:`StationParser.decode_record`, which each station's parser provides, or to
:meth:`StationParser.decode_values` for a parser whose records :mod:`struct`
reads: the record area is then unpacked in one pass (``struct.iter_unpack``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wxstation.parsers.derived import DERIVED, DerivedValue
from wxstation.parsers.fields import Field
from wxstation.protocol import (
    BYTES_PER_SAMPLE_AT,
    HEADER_SIZE,
    MAX_PAYLOAD_SIZE,
    Header,
    PacketError,
    parse_header,
)

__all__ = ["Decoded", "Field", "StationParser"]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded packet: its header, its complete records raw and as values."""

    header: Header
    records: tuple[bytes, ...]
    values: tuple[dict[str, float], ...]
    # Values the parser could not turn into a number (NaN or infinity from a
    # float field): named here so they are logged, never passed on as numbers.
    problems: tuple[str, ...] = field(default=())

    @property
    def announced(self) -> int:
        return self.header.announced_records

    @property
    def cut(self) -> bool:
        """True when the connection ended before the announced records arrived."""
        return len(self.records) < self.announced


class StationParser:
    """Decodes the packets of one kind of station.

    Subclasses set :attr:`record_size` (the header's ``bytes_per_sample``),
    :attr:`value_count` (its ``sensor_count``) and :attr:`fields`, and implement
    :meth:`decode_record`. Decoding is pure: the same bytes always give the same
    result, and anything malformed raises :class:`PacketError`.
    """

    #: Name used in config and logs.
    kind = "station"
    record_size: int = 0
    value_count: int = 0
    fields: tuple[Field, ...] = ()
    #: Bytes the station's sample store holds; a full store drops its oldest record.
    store_bytes: int = MAX_PAYLOAD_SIZE

    def __init__(self, derived: Sequence[str] = ()) -> None:
        self.derived: tuple[DerivedValue, ...] = tuple(DERIVED[name] for name in derived)

    @property
    def store_records(self) -> int:
        """Records the station can hold before it drops the oldest."""
        return self.store_bytes // self.record_size if self.record_size else 0

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """The station's own fields followed by its derived ones."""
        return self.fields + tuple(d.field for d in self.derived)

    #: The record's layout, for a parser that reads its records with
    #: :mod:`struct`: the record area is then read in one pass and each record's
    #: numbers handed to :meth:`decode_values`.
    record_struct: struct.Struct | None = None

    def decode_values(self, raw: tuple[Any, ...]) -> dict[str, float]:
        """Turn one record's numbers, as :attr:`record_struct` reads them, into named values."""
        raise NotImplementedError

    def decode_record(self, record: bytes) -> dict[str, float]:
        """Turn one record of :attr:`record_size` bytes into named values."""
        if self.record_struct is None:
            raise NotImplementedError
        return self.decode_values(self.record_struct.unpack(record))

    def encode_record(self, values: Mapping[str, float]) -> bytes:
        """The record the station would send for ``values``: the simulator's half.

        Optional for a parser; without it the simulator cannot imitate the station.
        """
        raise NotImplementedError(f"the {self.kind} parser cannot encode records")

    def check_shape(self, header: Header) -> None:
        """Refuse a packet whose records are not this station's layout."""
        if (header.bytes_per_sample, header.sensor_count) != (self.record_size, self.value_count):
            raise PacketError(
                f"its {self.kind} parser has {self.record_size}-byte, "
                f"{self.value_count}-value records; this packet says "
                f"{header.bytes_per_sample} and {header.sensor_count}: check the "
                "station's parser or fields in the config",
                offset=BYTES_PER_SAMPLE_AT,
                device_id=header.device_id,
            )

    def decode(self, data: bytes) -> Decoded:
        """Decode everything one connection delivered."""
        header = parse_header(data)
        self.check_shape(header)
        size = self.record_size
        complete = (len(data) - HEADER_SIZE) // size
        area = data[HEADER_SIZE : HEADER_SIZE + complete * size]
        records = tuple(area[i * size : (i + 1) * size] for i in range(complete))
        if self.record_struct is not None:
            values = [self.decode_values(raw) for raw in self.record_struct.iter_unpack(area)]
        else:
            values = [self.decode_record(record) for record in records]
        problems: list[str] = []
        for index, sample in enumerate(values):
            if not all(map(math.isfinite, sample.values())):
                for key, value in list(sample.items()):
                    if not math.isfinite(value):
                        problems.append(
                            f"record {index} (byte {HEADER_SIZE + index * size}): {key} is {value}"
                        )
                        del sample[key]
            for extra in self.derived:
                derived = extra.compute(sample)
                if derived is not None:
                    sample[extra.field.key] = derived
        return Decoded(header, records, tuple(values), tuple(problems))
