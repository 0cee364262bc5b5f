"""Problems as repair issues: the followed bridge's, over a real Mosquitto, and the
entry's own storage failing on a real filesystem in direct mode.

The bridge side is the bridge's real MQTT sink reporting its problems; Home
Assistant's real MQTT integration reads them (tests/ha/real_mqtt.py). The
storage side writes Home Assistant's real files under the test's own directory,
with a directory standing where a file must be written: the operating system
refuses the write, as a read-only or failing disk does.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from unittest.mock import patch

import pytest

# Imported here, not under the frozen clock: the supervisor client it loads
# builds its models from datetime types, which freezegun replaces.
from homeassistant.components.mqtt import config_flow as _mqtt_config_flow  # noqa: F401
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers import storage
from homeassistant.util import dt as dt_util
from homeassistant.util.json import load_json

from custom_components.wxstation.const import DOMAIN, storage_key
from custom_components.wxstation.diagnostics import async_get_config_entry_diagnostics
from tests.support.clock import Clock
from tests.support.mqtt import Watcher
from tests.support.servers import Mosquitto
from wxstation.config import UploadConfig
from wxstation.problems import Problem, disk_read_only, upload_refused

from .common import NOW, T0, mqtt_entry, send_and_wait, setup_entry, station, tcp_entry, until
from .real_mqtt import bridge_config, real_mqtt, running_bridge_sink, set_up_again

pytestmark = pytest.mark.usefixtures("socket_enabled", "mock_hass_config")

FROZEN = dt_util.utc_from_timestamp(NOW).isoformat()
#: Home Assistant's own writing of its storage files; the test harness replaces it
#: with writes to memory, and the storage test puts it back.
REAL_WRITE = storage.Store._async_write_data
KEY = "wu-s3cret-77"
UPLOAD = UploadConfig(service="wunderground", station=1, id="KXXYYY12", key=KEY)


@pytest.fixture
def expected_lingering_timers() -> bool:
    """The MQTT client's housekeeping timer outlives the test's Home Assistant."""
    return True


def issues_of(hass: HomeAssistant, prefix: str) -> dict[str, ir.IssueEntry]:
    """This integration's issues whose ids start with ``prefix``, by the rest of the id."""
    return {
        issue_id.removeprefix(prefix): issue
        for (domain, issue_id), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue_id.startswith(prefix)
    }


def refused(answer: str) -> Problem:
    """Weather Underground refusing the upload's key, its answer echoing the key."""
    return upload_refused(UPLOAD, "Weather Underground", answer, T0, credentials=True)


@pytest.mark.freeze_time(FROZEN, tick=True)
async def test_each_bridge_problem_is_a_repair_issue_until_the_bridge_clears_it(
    hass: HomeAssistant, broker: Mosquitto, tmp_path: Path
) -> None:
    """An entry following a bridge shows one issue per problem the bridge lists, in its
    words and never with an upload's key; a problem the bridge no longer lists goes,
    the rest come back from the retained list after a restart, a list it cannot read
    changes nothing, and unloading the entry removes them."""
    config = bridge_config(broker, tmp_path, discovery=False)
    problems = [
        refused(f"INVALIDPASSWORDID for PASSWORD={KEY}"),
        disk_read_only("/d/wx.db", "EROFS", T0 + 60),
    ]
    async with (
        real_mqtt(hass, broker) as mqtt_config,
        running_bridge_sink(config, Clock(T0)) as sink,
    ):
        wx = mqtt_entry()
        await setup_entry(hass, wx)
        prefix = f"bridge_problem_{wx.entry_id}_"
        sink.report_problems(problems)
        await until(hass, lambda: len(issues_of(hass, prefix)) == 2, "two issues")
        shown = issues_of(hass, prefix)
        assert set(shown) == {"upload_refused:wunderground:KXXYYY12", "disk_read_only"}
        issue = shown["upload_refused:wunderground:KXXYYY12"]
        assert issue.translation_key == "bridge_problem"
        assert issue.severity is ir.IssueSeverity.ERROR
        placeholders = issue.translation_placeholders or {}
        assert placeholders["title"] == problems[0].title
        assert "INVALIDPASSWORDID" in placeholders["message"]
        assert "uploads: id and key" in placeholders["action"]
        assert placeholders["since"] == "2026-11-24 10:15:00 UTC"
        assert not [text for text in placeholders.values() if KEY in text]
        diagnostics = await async_get_config_entry_diagnostics(hass, wx)
        assert [p["key"] for p in diagnostics["source"]["bridge_problems"]] == [
            problems[0].key,
            problems[1].key,
        ]

        sink.report_problems(problems[1:])
        await until(hass, lambda: set(issues_of(hass, prefix)) == {"disk_read_only"}, "one left")

        await set_up_again(hass, mqtt_config, wx)
        await until(hass, lambda: set(issues_of(hass, prefix)) == {"disk_read_only"}, "retained")

        watcher = Watcher(broker, "test/none")
        try:
            watcher.publish(config.mqtt.base_topic + "/bridge/problems", b'{"not": "a list"}')
            await hass.async_block_till_done()
            assert set(issues_of(hass, prefix)) == {"disk_read_only"}
            # The retained list removed (an empty message) lists none.
            watcher.publish(config.mqtt.base_topic + "/bridge/problems", b"", retain=True)
            await until(hass, lambda: not issues_of(hass, prefix), "no issue")
        finally:
            watcher.close()

        sink.report_problems(problems)
        await until(hass, lambda: len(issues_of(hass, prefix)) == 2, "the issues again")
        sink.report_problems([])
        await until(hass, lambda: not issues_of(hass, prefix), "every issue cleared")

        sink.report_problems(problems[1:])
        await until(hass, lambda: len(issues_of(hass, prefix)) == 1, "an issue")
        assert await hass.config_entries.async_unload(wx.entry_id)
        assert not issues_of(hass, prefix)


async def test_direct_mode_storage_that_cannot_be_written_is_a_repair_issue(
    hass: HomeAssistant, tmp_path: Path
) -> None:
    """A direct-mode entry whose storage file cannot be written (the kept packets and
    the stations' clocks, which are the only copy) shows an issue naming the file and
    the system's error, the same for every part that fails; the first write that
    succeeds removes it, and removing the entry removes any left."""
    hass.config.config_dir = str(tmp_path)
    with patch.object(storage.Store, "_async_write_data", REAL_WRITE):
        entry = tcp_entry()
        await setup_entry(hass, entry)
        prefix = f"storage_failed_{entry.entry_id}_"
        files = tmp_path / storage.STORAGE_DIR
        # Directories where the files go: the system refuses to write them.
        blocked = [files / storage_key(entry.entry_id, part) for part in ("packets", "stations")]
        for path in blocked:
            path.unlink(missing_ok=True)
            path.mkdir(parents=True)
        sim = station(1)
        before = time.time()
        await send_and_wait(hass, entry, sim.wake().packet, float(int(before)))
        await until(hass, lambda: set(issues_of(hass, prefix)) == {"packets", "stations"}, "issues")
        issue = issues_of(hass, prefix)["packets"]
        assert issue.translation_key == "storage_failed"
        assert issue.severity is ir.IssueSeverity.ERROR
        placeholders = issue.translation_placeholders or {}
        assert placeholders["path"] == str(blocked[0])
        assert "Is a directory" in placeholders["error"]
        assert placeholders["entry"] == entry.title
        # The file of the recent samples is written: it has no issue.
        assert (files / storage_key(entry.entry_id, "hours")).is_file()

        shutil.rmtree(blocked[0])
        await send_and_wait(hass, entry, sim.wake().packet, float(int(before)) + 3600)
        await until(hass, lambda: set(issues_of(hass, prefix)) == {"stations"}, "one issue left")
        assert blocked[0].is_file()
        kept = load_json(blocked[0])
        assert isinstance(kept, dict)
        assert kept["data"]["clocks"]

        assert await hass.config_entries.async_remove(entry.entry_id)
        await hass.async_block_till_done()
        assert not issues_of(hass, prefix)
