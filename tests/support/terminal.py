"""A command in a real terminal (Debian's tmux), read back as the screen a person sees.

tmux runs the command on a pseudo-terminal of its own and keeps what it draws:
a progress bar's redraws end up as one line, as on any terminal.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tempfile
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
    in ``directory``, so no other tmux is touched.

    (A pseudo-terminal of Python's ``pty`` would show the bytes written, not
    what they draw: tmux is the terminal a person would look at.)"""
    tmux = shutil.which("tmux")
    if tmux is None:
        pytest.skip("tmux is not installed (scripts/test installs it)")
    # A socket of its own each time: a server that was told to stop may still be
    # going away on the last one.
    socket = str(Path(tempfile.mkdtemp(prefix="tmux-", dir=directory)) / "socket")

    def run(*words: str) -> str:
        done = subprocess.run(
            [tmux, "-S", socket, *words], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"tmux {words[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def screen() -> str:
        return run("capture-pane", "-p", "-J")

    def ended() -> bool:
        return re.search(rf"^{EXITED}[0-9]+$", screen(), re.MULTILINE) is not None

    into = f" > {shlex.quote(str(stdout))}" if stdout is not None else ""
    command = f"{shlex.join(args)}{into}; echo {EXITED}$?; exec sleep {TIMEOUT:g}"
    size = ("-x", str(COLUMNS), "-y", str(ROWS))
    run("-f", "/dev/null", "new-session", "-d", "-c", str(ROOT), *size, command)
    try:
        wait_until(ended, "the command in the terminal to end", TIMEOUT)
        shown = screen()
    finally:
        subprocess.run([tmux, "-S", socket, "kill-server"], check=False)
    text, _, code = shown.rpartition(EXITED)
    return int(code.split()[0]), text


def bridge_command(*args: str) -> list[str]:
    """``wxstation-bridge`` with ``args``, as :func:`tests.support.bridge.cli` runs it."""
    return [sys.executable, "-m", "bridge.cli", *args]
