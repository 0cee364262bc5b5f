"""The status page in a real browser: Debian's Chromium, headless, driven by Selenium.

The bridge runs as a process of its own (as a user runs it) and simulated
stations send to it; the tests read the page as a person would see it, press
its button, and write screenshots into their tmp directory and ``build/``.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.alert import Alert
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from bridge.sim import send_packet
from tests.support.bridge import BridgeProcess, bridge_process, cli, write_config
from tests.support.browser import chromium
from tests.support.servers import free_port
from tests.support.web import day_capture, stations

ROOT = Path(__file__).parent.parent
#: Seconds to wait for the page to show what the bridge has: it fetches itself
#: every 5 s.
PAGE_WAIT = 20
#: Where the tests leave their screenshots besides their tmp directory (ignored by git).
SCREENSHOTS = ROOT / "build" / "screenshots"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    driver = chromium(tmp_path_factory.mktemp("chromium"))
    try:
        yield driver
    finally:
        driver.quit()


def start_bridge(tmp_path: Path, raw: dict[str, Any], log: str) -> tuple[BridgeProcess, int, int]:
    """Write the config, and return a bridge process for it with its two ports."""
    listen, http = free_port(), free_port()
    config = write_config(
        tmp_path / "config.yaml",
        {
            "listen": {"host": "127.0.0.1", "port": listen},
            "http": {"port": http},
            "storage": {"path": "wx.db"},
            **raw,
        },
    )
    return BridgeProcess(config, tmp_path / log), listen, http


def screenshot(driver: webdriver.Chrome, tmp_path: Path, name: str) -> Path:
    """The whole page as a PNG, in the test's tmp directory and in build/screenshots."""
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path = tmp_path / name
    path.write_bytes(base64.b64decode(shot["data"]))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENSHOTS / name)
    return path


def rows(driver: webdriver.Chrome, css: str) -> dict[str, Any]:
    """The page's rows of a kind, by their data attribute's value."""
    found = {}
    try:
        for row in driver.find_elements(By.CSS_SELECTOR, css):
            key = row.get_attribute("data-device") or row.get_attribute("data-packet")
            found[str(key)] = row
    except StaleElementReferenceException:  # the page replaced itself meanwhile
        return {}
    return found


def station_shown(driver: webdriver.Chrome, device: int) -> dict[str, str] | None:
    """A station's row as shown: its name cell, and per field the value and
    the number of points plotted; None until it has a plotted line."""
    try:
        row = rows(driver, "tr.station").get(str(device))
        if row is None:
            return None
        shown = {"name": row.find_element(By.CSS_SELECTOR, "td.name").text}
        for field in row.find_elements(By.CSS_SELECTOR, ".field"):
            key = str(field.get_attribute("data-field"))
            shown[key] = field.find_element(By.CSS_SELECTOR, ".value").text
            lines = field.find_elements(By.CSS_SELECTOR, "svg.plot polyline")
            shown[f"{key} plot"] = str(len(lines))
    except StaleElementReferenceException:
        return None
    if not any(key.endswith(" plot") and count == "1" for key, count in shown.items()):
        return None
    return shown


def test_the_page_shows_each_station_with_its_values_and_plots(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """Test that with a day of three stations' packets in the database, the page
    shows each of them, available, with its newest values, its clock error and a
    plot per field, and updates by itself when a station sends again."""
    raw = {"stations": {1: {"name": "Garden"}, 2: {"name": "Roof"}, 3: {"name": "Greenhouse"}}}
    bridge, listen, http = start_bridge(tmp_path, raw, "bridge.log")
    capture = day_capture(tmp_path / "day.jsonl", {1: 1.0, 2: 1.021, 3: 0.985})
    ingested = cli("ingest", "-c", str(bridge.config_file), str(capture))
    assert "stored 72 packets" in ingested.stdout, ingested.stderr
    with bridge_process(bridge.config_file, bridge.log_file) as bridge:
        bridge.start()
        browser.get(f"http://127.0.0.1:{http}/")
        wait = WebDriverWait(browser, PAGE_WAIT, poll_frequency=0.3)
        shown = wait.until(
            lambda d: (
                all(station_shown(d, n) for n in (1, 2, 3))
                and {n: station_shown(d, n) for n in (1, 2, 3)}
            )
        )
        assert isinstance(shown, dict)
        for device, name in ((1, "Garden"), (2, "Roof"), (3, "Greenhouse")):
            row = shown[device]
            assert row["name"].splitlines()[0] == name
            assert "available" in row["name"]
            assert row["temperature"].endswith("°C")
            assert row["humidity"].endswith("%")
            assert row["light"].endswith("lx")
            for key in ("temperature", "humidity", "light"):
                assert row[f"{key} plot"] == "1"
        # The clock error its packets an hour apart measured (each arrives a
        # second or so after its wake-up, so not exactly the factor's).
        roof = rows(browser, "tr.station")["2"].text
        error = re.search(r"([+-]\d+\.\d\d) %", roof)
        assert error is not None, roof
        assert float(error.group(1)) == pytest.approx(2.1, abs=0.05)
        assert "receiving" in browser.find_element(By.CSS_SELECTOR, ".summary").text
        screenshot(browser, tmp_path, "status-page.png")

        before = browser.find_element(By.ID, "updated").text
        send_packet("127.0.0.1", listen, stations(1)[0].wake().packet)
        wait.until(lambda d: "73 decoded" in d.find_element(By.ID, "main").text)
        assert browser.find_element(By.ID, "updated").text != before


def test_a_kept_aside_packet_is_decoded_when_the_button_is_pressed(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """Test that a packet kept aside for want of its station is listed with its
    reason, and once the station is configured, pressing the button decodes it:
    it leaves the list and its samples appear on the station's row."""
    bridge, listen, http = start_bridge(
        tmp_path, {"unknown_stations": {"action": "keep"}}, "bridge.log"
    )
    attic = stations(5)[0]
    with bridge_process(bridge.config_file, bridge.log_file) as first:
        first.start()
        send_packet("127.0.0.1", listen, attic.wake().packet)
        browser.get(f"http://127.0.0.1:{http}/")
        wait = WebDriverWait(browser, PAGE_WAIT, poll_frequency=0.3)
        wait.until(lambda d: rows(d, "tr.kept"))
        assert "device 5 is not configured" in browser.find_element(By.ID, "main").text
        assert first.terminate() == 0

    write_config(
        bridge.config_file,
        {
            "listen": {"host": "127.0.0.1", "port": listen},
            "http": {"port": http},
            "storage": {"path": "wx.db"},
            "unknown_stations": {"action": "keep"},
            "stations": {5: {"name": "Attic"}},
        },
    )
    with bridge_process(bridge.config_file, bridge.log_file) as second:
        second.start()
        browser.get(f"http://127.0.0.1:{http}/")
        wait = WebDriverWait(browser, PAGE_WAIT, poll_frequency=0.3)
        wait.until(lambda d: rows(d, "tr.kept") and "5" in rows(d, "tr.station"))
        assert station_shown(browser, 5) is None  # configured, nothing decoded yet
        assert "no packet decoded yet" in rows(browser, "tr.station")["5"].text
        screenshot(browser, tmp_path, "status-page-kept-aside.png")

        browser.find_element(By.CSS_SELECTOR, "button[data-action=reprocess]").click()
        wait.until(lambda d: not rows(d, "tr.kept") and station_shown(d, 5))
        shown = station_shown(browser, 5)
        assert shown is not None
        assert shown["name"].splitlines()[0] == "Attic"
        assert shown["temperature"].endswith("°C")
        assert browser.find_element(By.ID, "kept-count").text == "0"
        screenshot(browser, tmp_path, "status-page-after-reprocess.png")


def test_with_a_token_the_button_asks_for_it_and_the_page_never_shows_it(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """Test that with http.token set the page does not carry the token, the button
    asks for it, a wrong one is refused with the reason, and the right one decodes
    the kept-aside packet."""
    token = "the-bridge-token-0123456789"  # noqa: S105  (a test's own token)
    bridge, listen, http = start_bridge(
        tmp_path, {"unknown_stations": {"action": "keep"}}, "bridge.log"
    )
    with bridge_process(bridge.config_file, bridge.log_file) as first:
        first.start()
        send_packet("127.0.0.1", listen, stations(6)[0].wake().packet)
        wait_kept = WebDriverWait(browser, PAGE_WAIT, poll_frequency=0.3)
        browser.get(f"http://127.0.0.1:{http}/")
        wait_kept.until(lambda d: rows(d, "tr.kept"))
        assert first.terminate() == 0
    write_config(
        bridge.config_file,
        {
            "listen": {"host": "127.0.0.1", "port": listen},
            "http": {"port": http, "token": token},
            "storage": {"path": "wx.db"},
            "stations": {6: {"name": "Cellar"}},
        },
    )
    with bridge_process(bridge.config_file, bridge.log_file) as second:
        second.start()
        browser.get(f"http://127.0.0.1:{http}/")
        browser.execute_script("sessionStorage.clear()")
        wait = WebDriverWait(browser, PAGE_WAIT, poll_frequency=0.3)
        wait.until(lambda d: rows(d, "tr.kept"))
        assert token not in browser.page_source

        browser.find_element(By.CSS_SELECTOR, "button[data-action=reprocess]").click()
        prompt = wait.until(expected_conditions.alert_is_present())
        assert isinstance(prompt, Alert)
        prompt.send_keys("not-the-token-at-all")
        prompt.accept()
        wait.until(
            lambda d: "needs the bridge's http.token" in d.find_element(By.ID, "action-result").text
        )
        assert rows(browser, "tr.kept")

        browser.find_element(By.CSS_SELECTOR, "button[data-action=reprocess]").click()
        prompt = wait.until(expected_conditions.alert_is_present())
        assert isinstance(prompt, Alert)
        prompt.send_keys(token)
        prompt.accept()
        wait.until(lambda d: not rows(d, "tr.kept") and station_shown(d, 6))
        assert browser.find_element(By.ID, "action-result").text == (
            "1 kept-aside packets queued for decoding"
        )
        assert token not in browser.page_source
