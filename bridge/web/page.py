"""The status page: HTML with inline SVG plots, drawn by the bridge.

Pure: a :class:`~bridge.web.snapshot.Snapshot`, the config (names, units,
precision of each field) and the sinks' live state go in, a page comes out. No
script or style from anywhere else: the page works with no network beyond the
bridge, and its script only fetches the page again (every
:data:`REFRESH_SECONDS`) and posts its one action.
"""

from __future__ import annotations

import html
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bridge.overview import SinkOverview, StationOverview, age
from bridge.runtime.status import SinkState
from bridge.web.snapshot import PLOT_HOURS, Series, Snapshot
from wxstation.config import Config
from wxstation.parsers import Field
from wxstation.problems import Problem

__all__ = ["REFRESH_SECONDS", "LiveSink", "plot", "render_main", "render_page"]

#: Seconds between the page's fetches of itself.
REFRESH_SECONDS = 5
#: A plot's size in CSS pixels.
PLOT_WIDTH, PLOT_HEIGHT = 240, 56


@dataclass(frozen=True, slots=True)
class LiveSink:
    """What the running bridge knows of a sink beside the database."""

    state: SinkState
    #: See :attr:`bridge.sinks.Sink.connected`.
    connected: bool | None


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def _value(value: float, spec: Field | None) -> str:
    precision = spec.precision if spec and spec.precision is not None else 2
    unit = f" {spec.unit}" if spec and spec.unit else ""
    return f"{value:.{precision}f}{unit}"


def _fields(config: Config, device_id: int) -> dict[str, Field]:
    station = config.station(device_id)
    return {} if station is None else {f.key: f for f in station.parser.all_fields}


def plot(
    points: Sequence[tuple[int, float]], since_ms: int, until_ms: int, spec: Field | None = None
) -> str:
    """One line from ``since_ms`` to ``until_ms`` as an SVG element, scaled to its
    own range, with its lowest and highest value written at the left."""
    # The line keeps clear of the scale written above and below it.
    width, height, pad = PLOT_WIDTH, PLOT_HEIGHT, 12
    if not points:
        return (
            f'<svg class="plot" width="{width}" height="{height}" role="img">'
            f'<text x="4" y="{height // 2 + 4}" class="none">no samples in {PLOT_HOURS} h'
            "</text></svg>"
        )
    low = min(v for _, v in points)
    high = max(v for _, v in points)
    span_v = (high - low) or 1.0
    span_t = max(1, until_ms - since_ms)

    def x(t: int) -> float:
        return (t - since_ms) / span_t * width

    def y(v: float) -> float:
        return height - pad - (v - low) / span_v * (height - 2 * pad)

    path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    last_t, last_v = points[-1]
    hours = (until_ms - since_ms) / 3_600_000
    title = f"{_value(low, spec)} .. {_value(high, spec)} over the last " + (
        f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.0f} min"
    )
    return (
        f'<svg class="plot" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" data-points="{len(points)}"><title>{_e(title)}</title>'
        f'<polyline fill="none" points="{path}"/>'
        f'<circle r="2" cx="{x(last_t):.1f}" cy="{y(last_v):.1f}"/>'
        f'<text x="2" y="9" class="scale">{_e(_value(high, spec))}</text>'
        f'<text x="2" y="{height - 2}" class="scale">{_e(_value(low, spec))}</text></svg>'
    )


def _station_rows(
    station: StationOverview, series: Series | None, fields: Mapping[str, Field], now: float
) -> str:
    batch = station.newest
    state = "available" if station.available else "unavailable"
    badge = f'<span class="badge {state}">{state}</span>' if batch else "not heard from yet"
    cells = [
        f'<td class="name"><b>{_e(station.name)}</b><br><small>id {station.device_id}</small>'
        f"<br>{badge}</td>"
    ]
    if batch is None:
        cells.append('<td colspan="5">no packet decoded yet</td>')
    else:
        health = batch.health()
        cells += [
            f'<td class="when">{_e(_utc(batch.arrival))}<br>'
            f"<small>{age(now - batch.arrival)}</small></td>",
            f'<td class="num">{health["samples"]}</td>',
            f'<td class="num">{health["interval"]:.1f} s</td>',
            f'<td class="num">{health["clock_error"]:+.2f} %</td>',
            f'<td class="num">{station.missed}</td>',
        ]
    # The config's fields in its order, then any other the samples carry.
    seen = set(station.latest) | set(series.lines if series else ())
    keys = [*fields, *sorted(seen - set(fields))]
    plots = []
    for key in keys:
        spec = fields.get(key)
        label = spec.label if spec else key
        latest = station.latest.get(key)
        shown = "-" if latest is None else _value(latest, spec)
        lines = series.lines.get(key, []) if series else []
        drawing = plot(lines, series.since_ms, series.until_ms, spec) if series else ""
        plots.append(
            f'<div class="field" data-field="{_e(key)}"><span class="label">{_e(label)}</span>'
            f'<span class="value">{_e(shown)}</span>{drawing}</div>'
        )
    cells.append(f'<td class="fields">{"".join(plots)}</td>')
    return f'<tr class="station" data-device="{station.device_id}">{"".join(cells)}</tr>'


def _sink_row(sink: SinkOverview, live: LiveSink | None) -> str:
    if live is None:
        state, detail = "not running", "not configured in the running bridge"
    elif live.state.down_since is not None:
        state, detail = "unavailable", f"since {_utc(live.state.down_since)}"
    elif live.state.last_delivery is not None:
        state, detail = "delivering", f"last delivery {_utc(live.state.last_delivery)}"
    else:
        state, detail = "waiting", "nothing delivered since the bridge started"
    if live is not None and live.connected is not None:
        detail += "<br>connected" if live.connected else "<br>not connected"
    error = "-"
    last_error, at = (live.state.last_error, live.state.last_error_at) if live else (None, None)
    if last_error is not None and at is not None:
        error = f"{_e(last_error)}<br><small>{_utc(at)}</small>"
    refused = f"{len(sink.refused)}"
    if sink.refused:
        reasons: dict[str, int] = {}
        for _, reason in sink.refused:
            reasons[reason] = reasons.get(reason, 0) + 1
        refused += "".join(f"<br><small>{n}x {_e(r)}</small>" for r, n in reasons.items())
    badge = {"delivering": "available", "waiting": ""}.get(state, "unavailable")
    return (
        f'<tr class="sink" data-sink="{_e(sink.name)}"><td><b>{_e(sink.name)}</b></td>'
        f'<td><span class="badge {badge}">{state}</span><br><small>{detail}</small></td>'
        f'<td class="num">{sink.backlog}</td><td>{refused}</td><td>{error}</td></tr>'
    )


def _kept_section(snapshot: Snapshot) -> str:
    total = snapshot.counts.get("kept", 0)
    parts = [f'<h2>Kept aside <span class="count" id="kept-count">{total}</span></h2>']
    if not total:
        parts.append('<p class="quiet">No packet is kept aside.</p>')
        return "".join(parts)
    parts.append(
        "<p>Packets the bridge could not decode, or that its config does not take, are kept "
        "whole. Fix the config (and restart the bridge), then decode them again.</p>"
        '<p><button type="button" data-action="reprocess">Decode kept-aside packets again'
        "</button></p>"
    )
    parts.append(
        "<ul>"
        + "".join(f"<li>{count}x {_e(reason)}</li>" for reason, count in snapshot.kept_reasons)
        + "</ul>"
    )
    rows = "".join(
        f'<tr class="kept" data-packet="{packet.id}"><td class="num">{packet.id}</td>'
        f"<td>{_e(_utc(packet.received_at))}</td><td>{_e(packet.peer)}</td>"
        f'<td class="num">{_e(packet.device_id if packet.device_id is not None else "-")}</td>'
        f'<td class="num">{len(packet.data)}</td><td>{_e(packet.reason or "")}</td></tr>'
        for packet in snapshot.kept
    )
    more = total - len(snapshot.kept)
    parts.append(
        "<table><thead><tr><th>packet</th><th>arrived</th><th>from</th><th>device</th>"
        f"<th>bytes</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table>"
        + (f'<p class="quiet">and {more} older ones</p>' if more > 0 else "")
    )
    return "".join(parts)


def _storage_section(snapshot: Snapshot) -> str:
    """The database against its cap, the warning, and what gave way so far."""
    projection = snapshot.storage
    if projection is None:
        return ""
    parts = [f"<h2>Storage</h2><p>{_e(projection.summary())}</p>"]
    warning = projection.warning()
    if warning is not None:
        parts.append(f'<p class="warning">{_e(warning)}</p>')
    if snapshot.removed:
        items = "".join(f"<li>{_e(entry)}</li>" for entry in snapshot.removed)
        parts.append(
            "<p>Removed at the cap: the decoded history that every sink had delivered "
            "(the raw packets are kept; <code>wxstation-bridge reprocess --removed</code> "
            f"decodes it again):</p><ul>{items}</ul>"
        )
    return "".join(parts)


def _problems_section(problems: Sequence[Problem]) -> str:
    """What a person has to put right (the same as Home Assistant's repair
    issues), first on the page; nothing while all is well."""
    if not problems:
        return ""
    items = "".join(
        f"<li><strong>{_e(problem.title)}</strong> <small>since {_e(_utc(problem.since))}</small>"
        f"<br>{_e(problem.message)}<br><small>{_e(problem.action)}</small></li>"
        for problem in problems
    )
    return f'<h2>To put right</h2><ul class="problems">{items}</ul>'


def render_main(
    snapshot: Snapshot,
    config: Config,
    sinks: Mapping[str, LiveSink],
    unhealthy: str | None,
    port: int,
    now: float,
    problems: Sequence[Problem] = (),
) -> str:
    """The part of the page that updates: everything below the title."""
    counts = snapshot.counts
    status = (
        f'<span class="badge unavailable">not receiving</span> {_e(unhealthy)}'
        if unhealthy
        else f'<span class="badge available">receiving</span> on port {port}'
    )
    stations = "".join(
        _station_rows(
            station,
            snapshot.series.get(station.device_id),
            _fields(config, station.device_id),
            now,
        )
        for station in snapshot.stations
    )
    if not stations:
        stations = '<tr><td colspan="7" class="quiet">No station configured or heard yet.</td></tr>'
    sink_rows = "".join(_sink_row(sink, sinks.get(sink.name)) for sink in snapshot.sinks)
    sinks_html = (
        "<table><thead><tr><th>sink</th><th>state</th><th>backlog</th><th>refused</th>"
        f"<th>last error</th></tr></thead><tbody>{sink_rows}</tbody></table>"
        if sink_rows
        else '<p class="quiet">No sink besides the database.</p>'
    )
    return (
        f'<p class="summary">{status} · packets: {counts.get("done", 0)} decoded, '
        f"{counts.get('kept', 0)} kept aside, {counts.get('new', 0)} waiting · "
        f'updated <span id="updated">{_e(_utc(now))}</span></p>'
        f"{_problems_section(problems)}"
        "<h2>Stations</h2>"
        "<table><thead><tr><th>station</th><th>last packet</th><th>samples</th>"
        "<th>sample interval</th><th>clock error</th><th>missed wake-ups</th>"
        f"<th>newest sample; plots of up to {PLOT_HOURS} h</th></tr></thead>"
        f"<tbody>{stations}</tbody></table>"
        f"{_kept_section(snapshot)}"
        f"<h2>Sinks</h2>{sinks_html}"
        f"{_storage_section(snapshot)}"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d2733;background:#f6f7f9}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:.45em .7em;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{font-weight:600;background:#eef1f4}td.num{text-align:right;white-space:nowrap}
small,.quiet{color:#66707c}
ul.problems{background:#fff3e0;padding:.6em 1.6em;box-shadow:0 1px 2px #0002}
.badge{display:inline-block;padding:0 .5em;border-radius:.7em;
font-size:.85em;background:#ddd}.available{background:#cdeccd;color:#15521a}
.unavailable{background:#f6d3d0;color:#7a1a12}.warning{color:#7a1a12}
.fields{display:flex;flex-wrap:wrap;gap:.3em 1.2em;min-width:780px}
.field{display:grid;grid-template-columns:auto 1fr;width:240px;column-gap:.5em}
.field .label{color:#66707c}.field .value{text-align:right;font-weight:600}
.field svg{grid-column:1/3}.plot polyline{stroke:#2f6fb3;stroke-width:1.5}
.plot circle{fill:#2f6fb3}.plot .none{font-size:11px;fill:#99a}
.plot .scale{font-size:9px;fill:#8a929c}.plot{background:#fafbfc}
button{font:inherit;padding:.3em .9em;cursor:pointer}
#action-result{min-height:1.4em;margin:0;color:#7a1a12}footer{margin-top:2em;color:#66707c}a{color:#2f6fb3}td.when{white-space:nowrap}
"""

_SCRIPT = """
(function(){
  const every = %(refresh)d * 1000;
  async function refresh(){
    try{
      const r = await fetch(location.pathname, {cache: "no-store"});
      if(!r.ok) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      const fresh = doc.getElementById("main");
      if(fresh) document.getElementById("main").innerHTML = fresh.innerHTML;
    }catch(e){}
  }
  async function act(button){
    const headers = {"Content-Type": "application/json"};
    if(document.body.dataset.token === "required"){
      let token = sessionStorage.getItem("wxstation-token");
      if(!token){ token = prompt("The bridge's http.token:"); }
      if(!token) return;
      sessionStorage.setItem("wxstation-token", token);
      headers["Authorization"] = "Bearer " + token;
    }
    button.disabled = true;
    const out = document.getElementById("action-result");
    try{
      const r = await fetch(document.body.dataset.base + "/api/reprocess",
                            {method: "POST", headers, body: "{}"});
      const body = await r.json();
      if(r.status === 401 || r.status === 403) sessionStorage.removeItem("wxstation-token");
      out.textContent = r.ok ? body.queued + " kept-aside packets queued for decoding"
                             : (body.error || r.statusText);
    }catch(e){ out.textContent = String(e); }
    button.disabled = false;
    setTimeout(refresh, 1000);
  }
  document.addEventListener("click", function(ev){
    const button = ev.target.closest("button[data-action=reprocess]");
    if(button) act(button);
  });
  setInterval(refresh, every);
})();
"""


def render_page(
    snapshot: Snapshot,
    config: Config,
    sinks: Mapping[str, LiveSink],
    unhealthy: str | None,
    port: int,
    now: float,
    *,
    token_required: bool,
    base: str = "",
    problems: Sequence[Problem] = (),
) -> str:
    """The whole status page; ``unhealthy`` is why the bridge does not receive, if it does not.

    ``base`` is the path the page is served under (behind Home Assistant's
    ingress proxy, its ``X-Ingress-Path``): every link and request of the page
    starts with it.
    """
    main = render_main(snapshot, config, sinks, unhealthy, port, now, problems)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>wxstation bridge</title><style>{_STYLE}</style></head>"
        f'<body data-token="{"required" if token_required else "none"}" data-base="{_e(base)}">'
        '<h1>wxstation bridge</h1><p id="action-result" role="status"></p>'
        f'<main id="main">{main}</main>'
        f'<footer><a href="{_e(base)}/api/stations">/api/stations</a>'
        f' · <a href="{_e(base)}/metrics">/metrics</a>'
        f' · <a href="{_e(base)}/healthz">/healthz</a></footer>'
        f"<script>{_SCRIPT % {'refresh': REFRESH_SECONDS}}</script></body></html>"
    )
