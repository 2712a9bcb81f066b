"""``python -m bench.detectors``: end-to-end latency of a served drift detector vs in-process alibi-detect and
vs MLServer's alibi-detect runtime, in one run.

Per case (KS: 10,000-row reference, 1,000x10 batches; MMD with TensorFlow: 500 + 500) one detector is fitted
and saved; every variant loads that same directory. Batch after batch, every variant checks the same batch
(the order rotated from one batch to the next, so slow changes of the machine's load hit all alike).
It prints the table, the ratios and the targets (met/missed), and writes everything to ``--json``.
A missed target is a measurement, never a failing exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.detectors import report
from bench.detectors.data import CASES, Array, Batch, Case, batches, v2_body
from bench.detectors.report import DIRECT, MLSERVER, Timing
from bench.detectors.variants import (
    Direct,
    HttpVariant,
    Result,
    fit_detector_dir,
    inferwatch_variants,
    mlserver,
    mlserver_unavailable,
    start_inferwatch,
    tf_unavailable,
    v2_verdict,
)
from bench.logger.procs import Processes
from bench.logger.run import machine, run_info, sigterm_as_interrupt
from inferwatch import tf_env

DESCRIPTION = """\
Milliseconds per drift-detection batch, end to end, of the same saved alibi-detect detector on 127.0.0.1:

  direct             load_detector(DIR).predict(batch) in this process (the baseline)
  inferwatch-v2      inferwatch detector serve --detector DIR --batch-size ROWS (its own process),
                     POST /v2/models/NAME/infer: one FP32 tensor [rows, 10]; every request closes a window
  inferwatch-v2-binary  the same request in V2's binary tensor extension (Inference-Header-Content-Length:
                     a JSON header, then the raw little-endian floats), as Triton's and KServe's clients send it
  inferwatch-seldon  the same server, POST /api/v1.0/predictions: Seldon v1 ndarray with feature names
  mlserver-v2        MLServer 1.7.1 + mlserver-alibi-detect 1.6.1 (cached venv, parallel_workers 0) serving
                     the same DIR (model-settings parameters.uri), the same V2 body; no batch_size, so
                     every request is one predict call

Cases: ks  = KSDrift (p_val 0.05), reference 10,000 x 10, batches 1,000 x 10
       mmd = MMDDrift, TensorFlow backend (p_val 0.05, 100 permutations), reference 500 x 10, batches 500 x 10
Data: seeded float32 standard normal; odd batches drifted (+0.5 sd on 3 of the 10 features).
Server latency is client side: one keep-alive httpx client per server, from sending the pre-encoded body to
the parsed JSON answer. '+p50 ms' = median over batches of (variant - direct) on the same batch.
'cpu ms' = mean CPU time per batch of the process that ran the detector (this one for direct, the
server's otherwise; every thread, from /proc/PID/stat). 'correct' = verdicts equal to the truth,
'=direct' = verdicts equal to direct's on the same batch.

Targets (per case and inferwatch variant, judged on p50): <= 1.1x direct; faster than mlserver-v2.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.detectors", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated (default {','.join(CASES)})")
    p.add_argument("--batches", type=int, default=150, help="timed KS batches per variant (default 150)")
    p.add_argument("--mmd-batches", type=int, default=20, help="timed MMD batches per variant (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches per variant first (default 3)")
    p.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    p.add_argument("--no-mlserver", action="store_true", help="leave out the MLServer variant")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run of about a minute: 8 KS and 2 MMD batches, 1 warm-up; never builds the MLServer venv",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="per case: no new batch starts after this many seconds of measuring (default 600)",
    )
    p.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    p.add_argument("--workdir", type=Path, default=None, help="where detectors, logs and state go (default a temp dir)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the work dir (logs) after the run")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    if args.quick:
        args.batches, args.mmd_batches, args.warmup = min(args.batches, 8), min(args.mmd_batches, 2), 1
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        p.error(f"unknown case(s) {', '.join(unknown)}; choose from {', '.join(CASES)}")
    if min(args.batches, args.mmd_batches) < 1 or args.warmup < 0:
        p.error("--batches and --mmd-batches must be at least 1, --warmup at least 0")
    return args


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


Detect = Callable[[Array], Result]


def measure_case(case: Case, variants: dict[str, Detect], args: argparse.Namespace) -> list[Timing]:
    """Warm every variant up, then run each timed batch through every variant, the order rotated per batch."""
    count = args.batches if case.name == "ks" else args.mmd_batches
    data = batches(args.warmup + count, case.batch_rows, seed=args.seed)
    warm, timed = data[: args.warmup], data[args.warmup :]
    for name, detect in variants.items():
        for b in tqdm(warm, desc=f"{case.name} warm-up {name}", unit="batch", file=sys.stderr, leave=False):
            detect(b.x)
    names = list(variants)
    out: list[Timing] = []
    deadline = time.monotonic() + args.max_seconds
    for i, b in enumerate(tqdm(timed, desc=f"{case.name} {len(names)} variants", unit="batch", file=sys.stderr)):
        if time.monotonic() > deadline:
            progress(f"[{case.name}] --max-seconds {args.max_seconds:g} reached after {i} batches")
            break
        k = i % len(names)
        for name in names[k:] + names[:k]:
            out.append(_timed(case, name, variants[name], b))
    return out


def _timed(case: Case, variant: str, detect: Detect, b: Batch) -> Timing:
    seconds, cpu, is_drift = detect(b.x)
    return Timing(case.name, variant, b.index, seconds, cpu, b.drifted, is_drift)


def run_cases(args: argparse.Namespace, workdir: Path, cases: list[Case], mlserver_why: str | None) -> list[Timing]:
    """Fit every case, start MLServer once for all of them and one inferwatch server per case, measure, stop."""
    dirs: dict[str, Path] = {}
    for case in cases:
        progress(f"[{case.name}] fitting and saving the detector ({case.reference_rows} x 10 reference) ...")
        dirs[case.name] = fit_detector_dir(case, workdir, args.seed)
    timings: list[Timing] = []
    procs = Processes(workdir)
    with contextlib.ExitStack() as stack:
        stack.callback(procs.stop_all)
        peer = None
        if mlserver_why is None:
            progress("starting MLServer with the alibi-detect runtime (imports TensorFlow) ...")
            peer = stack.enter_context(mlserver(workdir, {f"{name}-detector": d for name, d in dirs.items()}))
        for case in cases:
            model = f"{case.name}-detector"
            progress(f"[{case.name}] starting inferwatch detector serve ...")
            proc = start_inferwatch(procs, case, dirs[case.name], model)
            clients = inferwatch_variants(proc, model)
            if peer is not None and peer.pid is not None:
                clients.append(HttpVariant(MLSERVER, peer.infer_url(model), peer.pid, v2_body, v2_verdict))
            try:
                variants: dict[str, Detect] = {DIRECT: Direct(dirs[case.name]).detect}
                variants.update({c.name: c.detect for c in clients})
                timings += measure_case(case, variants, args)
            finally:
                for c in clients:
                    c.close()
                procs.stop(proc)
    return timings


def skipped_cases(args: argparse.Namespace) -> tuple[list[Case], dict[str, str]]:
    cases, skipped = [], {}
    for name in args.cases:
        case = CASES[name]
        why = tf_unavailable() if case.needs_tf else None
        if why:
            skipped[name] = why
            progress(f"SKIP case {name}: {why}")
        else:
            cases.append(case)
    return cases, skipped


def print_results(
    rows: list[report.Row], verdicts: list[Any], skipped: dict[str, str], mlserver_why: str | None
) -> None:
    print(report.table(rows))
    print()
    print("Targets (judged on p50; met/missed are measurements, not errors):")
    print(report.verdict_table(verdicts))
    if mlserver_why:
        print(f"n/a    p50 / mlserver-v2 p50: the MLServer variant did not run: {mlserver_why}")
    for name, why in skipped.items():
        print(f"SKIPPED case {name}: {why}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    tf_env.use_legacy_keras()  # as the servers do, before alibi-detect (and so TensorFlow) is imported here
    cases, skipped = skipped_cases(args)
    mlserver_why = "--no-mlserver" if args.no_mlserver else mlserver_unavailable(build=not args.quick)
    if mlserver_why:
        progress(f"MLServer variant left out: {mlserver_why}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="inferwatch-bench-detectors-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start_load, t0 = machine(), time.monotonic()
    try:
        with sigterm_as_interrupt():
            timings = run_cases(args, workdir, cases, mlserver_why)
    except KeyboardInterrupt:
        progress("interrupted: every process this run started has been stopped")
        return 130
    finally:
        if not args.keep_workdir and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = report.aggregate(timings)
    verdicts = report.verdicts(rows, mlserver_why)
    print_results(rows, verdicts, skipped, mlserver_why)
    if args.json is not None:
        result = {
            **run_info(args, start_load, t0),
            "mlserver_unavailable": mlserver_why,
            "skipped_cases": skipped,
            "rows": [r.to_dict() for r in rows],
            "verdicts": [v.to_dict() for v in verdicts],
            "timings": [t.__dict__ for t in timings],
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nresults: {args.json}")
    return 0
