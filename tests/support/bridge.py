"""The bridge for tests: in this event loop on a free port, or as a real process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from bridge.runtime.assembly import Assembly, serve
from bridge.runtime.store import Store
from bridge.sinks import Sink
from bridge.web import StatusServer
from tests.support.waiting import wait_until
from wxstation.config import Config, parse_config
from wxstation.receiving import Receiver

#: Seconds the bridge may take to start listening, and to stop.
START_TIMEOUT = 15.0
STOP_TIMEOUT = 30.0


def bridge_config(tmp_path: Path, raw: dict[str, Any] | None = None) -> Config:
    """A config on a free loopback port with its database in ``tmp_path``."""
    config = parse_config(raw or {})
    return replace(
        config,
        listen=replace(config.listen, host="127.0.0.1", port=0, read_timeout=1.0),
        http=replace(config.http, port=0),
        storage=replace(config.storage, path=tmp_path / "wxstation.db"),
    )


@dataclass
class RunningBridge:
    """The bridge that :func:`running_bridge` started: its parts, and its database to read."""

    config: Config
    assembly: Assembly
    stop: asyncio.Event
    task: asyncio.Task[int]
    #: The status page's server, when the config turns it on.
    web: StatusServer | None = None

    @property
    def port(self) -> int:
        return self.assembly.status.port

    @property
    def receiver(self) -> Receiver:
        return self.assembly.receiver

    @property
    def store(self) -> Store:
        """The running bridge's database, awaited on its own thread."""
        return self.assembly.store

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the bridge's database from a connection of the test's own."""
        db = sqlite3.connect(f"file:{self.config.storage.path}?mode=ro", uri=True)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def count(self, sql: str, *args: Any) -> int:
        return int(self.query(sql, *args)[0][0])

    async def shutdown(self) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, STOP_TIMEOUT)


@contextlib.asynccontextmanager
async def running_bridge(
    config: Config, sinks: list[Sink] | None = None, clock: Callable[[], float] = time.time
) -> AsyncIterator[RunningBridge]:
    """The whole service (``serve``) in this event loop, with ``sinks`` or, if
    None, those its config sets up. Stopped gracefully at the end of the block,
    which then fails unless the bridge exits with 0. ``clock`` is its wall
    clock (a test's simulated time)."""
    ready: asyncio.Future[Assembly] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    web: list[StatusServer] = []
    task = asyncio.create_task(
        serve(
            config,
            sinks=sinks,
            stop=stop,
            on_ready=ready.set_result,
            on_web=web.append,
            clock=clock,
        )
    )
    await asyncio.wait({task, ready}, timeout=START_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        if task.done():
            raise RuntimeError(f"bridge did not start: exit code {task.result()}")
        stop.set()
        await asyncio.wait_for(task, STOP_TIMEOUT)
        raise RuntimeError(f"bridge did not start within {START_TIMEOUT:g} s")
    bridge = RunningBridge(config, ready.result(), stop, task, web[0] if web else None)
    code = None
    try:
        yield bridge
    finally:
        if not task.done():
            code = await bridge.shutdown()
    assert code in (None, 0), f"the bridge stopped with exit code {code}"


# --- the bridge as a real process -------------------------------------------------


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    """Write a config; its status page on a free port unless ``raw`` says otherwise."""
    path.write_text(yaml.safe_dump({"http": {"port": 0}, **raw}), encoding="utf-8")
    return path


@dataclass
class BridgeProcess:
    """``wxstation-bridge run`` in a process of its own, as a user runs it."""

    config_file: Path
    log_file: Path
    process: subprocess.Popen[bytes] | None = None
    #: More arguments to ``run`` (``--event-loop asyncio``).
    run_args: tuple[str, ...] = ()
    #: A command the bridge runs under (``fiu-run -x``: faults injected).
    prefix: tuple[str, ...] = ()

    def start(self, ready_timeout: float = 20.0) -> None:
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *self.prefix,
                    sys.executable,
                    "-m",
                    "bridge.cli",
                    "run",
                    "-c",
                    str(self.config_file),
                    *self.run_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        process = self.process

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError("bridge did not start:\n" + self.log_file.read_text())
            return "listening on" in self.log_file.read_text(errors="replace")[offset:]

        try:
            wait_until(listening, "the bridge to listen", ready_timeout)
        except TimeoutError:
            raise RuntimeError("bridge did not start:\n" + self.log_file.read_text()) from None

    def kill(self) -> None:
        """``kill -9``: no shutdown, no flush."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@contextlib.contextmanager
def bridge_process(
    config_file: Path, log_file: Path, prefix: tuple[str, ...] = ()
) -> Iterator[BridgeProcess]:
    bridge = BridgeProcess(config_file, log_file, prefix=prefix)
    try:
        yield bridge
    finally:
        bridge.close()


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``wxstation-bridge`` with ``args`` in a process of its own, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bridge.cli", *args], capture_output=True, text=True, check=False
    )
