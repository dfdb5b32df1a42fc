"""A one-line progress report on stderr for a ranking job (rank, evaluate or search)."""
from __future__ import annotations

import sys
import time


class Progress:
    """A one-line progress report on stderr: done/total, failures, rate per minute and ETA."""

    def __init__(self, total: int, cached: int = 0, enabled: bool = True, stream=None, interval: float = 5.0,
                 label: str = "rank"):
        self.total, self.cached, self.label = total, cached, label
        self.done = self.failed = self.partial = 0
        self.enabled = enabled and total > 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.tty else interval
        self.t0 = time.monotonic()
        self._last = 0.0

    def line(self) -> str:
        el = time.monotonic() - self.t0
        rate = self.done / el * 60 if el > 0 else 0.0
        left = self.total - self.done
        eta = left / (self.done / el) if self.done and el > 0 else None
        eta_s = time.strftime("%H:%M:%S", time.gmtime(eta)) if eta is not None else "--:--:--"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        width = 24
        fill = int(width * self.done / self.total) if self.total else width
        bar = "#" * fill + "-" * (width - fill)
        return (f"{self.label} [{bar}] {self.done}/{self.total} {pct:5.1f}%  {rate:6.1f}/min  ETA {eta_s}"
                f"  failed {self.failed}" + (f"  partial {self.partial}" if self.partial else "")
                + f"  cached {self.cached}")

    def update(self, failed: bool = False, partial: bool = False) -> None:
        self.done += 1
        self.failed += bool(failed)
        self.partial += bool(partial)
        now = time.monotonic()
        if self.enabled and (now - self._last >= self.interval or self.done == self.total):
            self._last = now
            end = "" if self.tty else "\n"
            self.stream.write(("\r" if self.tty else "") + self.line() + end)
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
