"""A command in a real terminal (Debian's tmux), read back as the screen a person sees.

tmux runs the command on a pseudo-terminal of its own and keeps what it draws:
a progress bar's redraws end up as one line, as on any terminal.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

ROOT = Path(__file__).parents[2]
#: The terminal's size: wide enough that a bar and its figures fit on one line.
COLUMNS = 120
ROWS = 50
#: Seconds a command may take in the terminal.
TIMEOUT = 120.0
#: What the terminal prints once the command is over, before its exit code.
EXITED = "exited with "


def screen_of(args: list[str], directory: Path, *, stdout: Path | None = None) -> tuple[int, str]:
    """Run ``args`` in a terminal of ``COLUMNS`` x ``ROWS`` in the project's
    directory, with stdout to the file ``stdout`` if given; return its exit code
    and the screen once it is over (wrapped lines joined). tmux's socket lives
    in ``directory``, so no other tmux is touched."""
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux is not installed (scripts/test installs it)")
    socket = str(directory / "tmux.sock")
    into = f" > {shlex.quote(str(stdout))}" if stdout is not None else ""
    command = f"{shlex.join(args)}{into}; echo {EXITED}$?; exec sleep {TIMEOUT:g}"
    subprocess.run(
        [
            tmux,
            "-S",
            socket,
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-c",
            str(ROOT),
            "-x",
            str(COLUMNS),
            "-y",
            str(ROWS),
            command,
        ],
        check=True,
    )

    def screen() -> str:
        return subprocess.run(
            [tmux, "-S", socket, "capture-pane", "-p", "-J"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    try:
        wait_until(lambda: EXITED in screen(), "the command in the terminal to end", TIMEOUT)
        shown = screen()
    finally:
        subprocess.run([tmux, "-S", socket, "kill-server"], check=False)
    text, _, code = shown.rpartition(EXITED)
    return int(code.split()[0]), text


def bridge_command(*args: str) -> list[str]:
    """``wxstation-bridge`` with ``args``, as :func:`tests.support.bridge.cli` runs it."""
    return [sys.executable, "-m", "bridge.cli", *args]
