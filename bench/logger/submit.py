"""``python -m bench.logger.submit``: what ``Pipeline.submit`` costs the proxy per exchange, on its own.

A micro-benchmark, not a test: it prints nanoseconds per call and never fails. The builder is not started, so
nothing competes for the GIL and only the caller's side is timed:

- ``room``: the intake queue has room (the normal case);
- ``full``: the intake queue is full (the builder fell behind): the exchange is dropped or, with an intake
  spool, written to it.

The exchange is a real Seldon request/response pair (~150 bytes each way) with the logger's codec.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from inferwatch.capture import Body, Exchange
from inferwatch.delivery import DeliveryMetrics, DeliveryOptions, Pipeline, decode_exchange, encode_exchange
from inferwatch.metrics import new_registry
from inferwatch.records import InferenceRecord

REQUEST = b'{"data": {"names": ["a", "b", "c", "d"], "ndarray": [[5.1, 3.5, 1.4, 0.2]]}, "meta": {"puid": "x"}}'
RESPONSE = b'{"data": {"names": ["t:0", "t:1", "t:2"], "ndarray": [[0.97, 0.02, 0.01]]}, "meta": {}}'


class _NullSink:
    name = "null"

    def write(self, records: object) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def health(self) -> object: ...


def _exchange(i: int) -> Exchange:
    now = time.time()
    ex = Exchange(f"r{i}", now, now + 0.001, status_code=200, method="POST", path="/api/v1.0/predictions")
    ex.request = Body(REQUEST, "application/json", len(REQUEST))
    ex.response = Body(RESPONSE, "application/json", len(RESPONSE))
    return ex


def _build(ex: Exchange) -> InferenceRecord:
    raise AssertionError("the builder is not started")


def _run(n: int, queue_size: int, spool_dir: Path | None, prefill: int) -> float:
    """Nanoseconds per ``submit`` of ``n`` exchanges after ``prefill`` submits filled the intake."""
    options = DeliveryOptions(queue_size=queue_size, spool_dir=spool_dir, spool_max_bytes=1 << 30)
    pipeline: Pipeline[Exchange] = Pipeline(
        [_NullSink()],  # type: ignore[list-item]
        _build,
        DeliveryMetrics(new_registry()),
        options,
        codec=(encode_exchange, decode_exchange),
    )
    exchanges = [_exchange(i) for i in range(prefill + n)]
    for ex in exchanges[:prefill]:
        pipeline.submit(ex)
    timed = exchanges[prefill:]
    start = time.perf_counter_ns()
    for ex in timed:
        pipeline.submit(ex)
    return (time.perf_counter_ns() - start) / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=50_000, help="submits timed per repetition")
    p.add_argument("--reps", type=int, default=7, help="repetitions (the median is shown)")
    args = p.parse_args(argv)
    n: int = args.n
    rows: list[tuple[str, list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="iw-submit-") as tmp:
        cases: dict[str, tuple[int, str | None, int]] = {  # queue size, spool dir prefix, prefill
            "room (no spool)": (n + 1, None, 0),
            "room (spool dir set)": (n + 1, "a", 0),
            "full (no spool)": (100, None, 100),
            "full (spool dir set)": (100, "b", 100),
        }
        for name, (size, prefix, prefill) in cases.items():
            spool = [None if prefix is None else Path(tmp) / f"{prefix}{i}" for i in range(args.reps)]
            rows.append((name, [_run(n, size, spool[i], prefill) for i in range(args.reps)]))
    out = sys.stdout
    out.write(f"Pipeline.submit, {args.n} exchanges x {args.reps} reps, ns per call\n")
    out.write(f"{'case':<24}{'median':>10}{'min':>10}{'max':>10}\n")
    for name, values in rows:
        out.write(f"{name:<24}{statistics.median(values):>10.0f}{min(values):>10.0f}{max(values):>10.0f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
