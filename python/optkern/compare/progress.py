"""A minimal progress display on stderr (no dependency).

On a terminal: one line redrawn in place with a carriage return, at most ten times a second.
Elsewhere (a pipe, a log file, pytest's capture): one line per finished run, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_REDRAW_S = 0.1  # seconds between redraws on a terminal
_BAR_WIDTH = 24


class Progress:
    def __init__(self, runs: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.runs = runs
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        isatty = getattr(self.stream, "isatty", None)
        self.live = enabled and callable(isatty) and bool(isatty())
        self._run = 0
        self._label = ""
        self._last_draw = 0.0

    def start(self, label: str) -> None:
        """A new run begins (runs are numbered 1…runs in call order)."""
        self._run += 1
        self._label = label
        self._last_draw = 0.0

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` iterations of the current run are finished."""
        if not self.live:
            return
        now = time.perf_counter()
        if now - self._last_draw < _REDRAW_S and done < total:
            return
        self._last_draw = now
        filled = _BAR_WIDTH * done // max(total, 1)
        bar = "#" * filled + "-" * (_BAR_WIDTH - filled)
        line = f"[{self._run}/{self.runs}] {self._label:<28.28} |{bar}| {done}/{total}"
        self.stream.write(f"\r{line}")
        self.stream.flush()

    def finish(self, summary: str) -> None:
        """The current run is done: ``summary`` replaces the bar (or is printed as a line)."""
        if not self.enabled:
            return
        line = f"[{self._run}/{self.runs}] {self._label}: {summary}"
        # Pad so a shorter line fully covers the bar it replaces.
        self.stream.write(f"\r{line:<{_BAR_WIDTH + 50}}\n" if self.live else f"{line}\n")
        self.stream.flush()
