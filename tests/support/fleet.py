"""A fleet of simulated reference stations, as the bridge receives them."""

from __future__ import annotations

from collections.abc import Iterator

from bridge.sim import SimStation
from wxstation.packets import Received
from wxstation.parsers import ReferenceParser


def fleet_peer(device_id: int) -> str:
    """The address a station of the fleet sends from: its own, by device id."""
    return f"192.0.2.{device_id}:4000"


def fleet_rounds(stations: int, rounds: int, start: float) -> Iterator[list[Received]]:
    """``rounds`` wake-ups of ``stations`` reference stations (device ids 1 to
    ``stations``, first measuring at ``start``): each round one packet of each,
    delivered, from the station's own address."""
    sims = [SimStation(device, ReferenceParser(), start) for device in range(1, stations + 1)]
    for _ in range(rounds):
        items = []
        for sim in sims:
            wake = sim.wake()
            sim.delivered()
            items.append(Received(wake.packet, wake.arrival, fleet_peer(sim.device_id)))
        yield items
