"""Debian's Chromium, headless, driven by Selenium through Debian's chromedriver."""

from __future__ import annotations

from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.support.servers import require_binary

__all__ = ["CHROMEDRIVER", "CHROMIUM", "chromium"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def chromium(user_data_dir: Path) -> webdriver.Chrome:
    """A headless Chromium with its profile in ``user_data_dir``; skips (fails
    under CI) when Chromium or its driver is not installed. The caller quits it."""
    options = webdriver.ChromeOptions()
    options.binary_location = require_binary(CHROMIUM, "chromium")
    # Headless as root in a container, and none of Chromium's own connections to
    # Google's hosts, which this machine's network refuses.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={user_data_dir}",
    ):
        options.add_argument(flag)
    service = Service(executable_path=require_binary(CHROMEDRIVER, "chromium-driver"))
    return webdriver.Chrome(service=service, options=options)
