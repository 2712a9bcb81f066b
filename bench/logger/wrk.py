"""wrk (Debian package) as the load generator: a closed loop of C connections for a fixed duration.

A Lua script sets the POST body and prints, when the run is done, one JSON line with the request count,
errors and exact latency percentiles from wrk's histogram (microsecond resolution).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

MARKER = "WRKJSON "

SCRIPT = """\
wrk.method = "POST"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{marker}{{"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,' ..
    '"errors_status":%d,"errors_timeout":%d,"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"p999_us":%.1f,' ..
    '"mean_us":%.1f,"max_us":%.1f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.mean, latency.max))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run measured."""

    requests: int
    seconds: float
    errors: int
    """Connect/read/write/timeout errors plus non-2xx/3xx answers."""
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    mean_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def write_script(directory: Path, body: str) -> Path:
    """A Lua script POSTing ``body`` as JSON; returns its path."""
    path = directory / "post.lua"
    path.write_text(SCRIPT.format(body=body, marker=MARKER))
    return path


def parse(output: str) -> WrkResult:
    """The ``WRKJSON`` line of wrk's output as a ``WrkResult``."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            d = json.loads(line[len(MARKER) :])
            errors = sum(int(d[k]) for k in d if k.startswith("errors_"))
            return WrkResult(
                requests=int(d["requests"]),
                seconds=d["duration_us"] / 1e6,
                errors=errors,
                p50_ms=d["p50_us"] / 1000,
                p90_ms=d["p90_us"] / 1000,
                p99_ms=d["p99_us"] / 1000,
                p999_ms=d["p999_us"] / 1000,
                mean_ms=d["mean_us"] / 1000,
                max_ms=d["max_us"] / 1000,
            )
    raise ValueError(f"no {MARKER.strip()} line in wrk output:\n{output[-2000:]}")


def run(url: str, script: Path, connections: int, seconds: float, threads: int = 1) -> WrkResult:
    """Load ``url`` with ``connections`` keep-alive connections for ``seconds`` s."""
    threads = max(1, min(threads, connections))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout[-1000:]}")
    return parse(out.stdout)
