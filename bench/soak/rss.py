"""Resident memory of the processes under soak, sampled in the background."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path


def rss_bytes(pid: int) -> int | None:
    """``VmRSS`` of ``pid`` in bytes (None once it has exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass
class RssSampler:
    """Samples every ``interval`` seconds; ``mark()`` sets the baseline (after warm-up)."""

    pids: dict[str, int]
    interval: float = 2.0
    samples: dict[str, list[int]] = field(default_factory=dict)
    baseline: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rss", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        for name, pid in self.pids.items():
            value = rss_bytes(pid)
            if value is not None:
                self.samples.setdefault(name, []).append(value)

    def mark(self) -> None:
        """The current RSS of each process becomes its baseline."""
        self.sample()
        self.baseline = {name: values[-1] for name, values in self.samples.items() if values}

    def stop(self) -> dict[str, dict[str, int]]:
        """Stop sampling; per process: baseline, last, peak and growth (last - baseline) in bytes."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.sample()
        out: dict[str, dict[str, int]] = {}
        for name, values in self.samples.items():
            base = self.baseline.get(name, values[0])
            out[name] = {"baseline": base, "last": values[-1], "peak": max(values), "growth": values[-1] - base}
        return out
