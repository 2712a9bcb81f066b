"""``python -m bench.explainers``: seconds per explanation through inferwatch vs in-process alibi, one run.

The model server and, per kind, the ``inferwatch explainer`` are started as processes; the in-process
explainer is built in this process on the same model file, reference and seed. Instance after instance,
each variant explains the same row (which goes first alternates, so slow changes of the machine's load hit
both alike); then one batch request holds every instance. It prints the table, the ratios vs in-process,
the comparability check of the explanations and the targets, and writes everything to ``--json``.
A missed target is a measurement, never a failing exit status.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.explainers import report
from bench.explainers.model import fit_model, load_model
from bench.explainers.report import BASELINE, INFERWATCH, INFERWATCH_BATCH, Summary, Timing, summarize
from bench.explainers.variants import InferwatchExplainer, InProcess, instances, mlserver_unavailable
from bench.logger.procs import BenchError, Proc, Processes, free_port
from bench.logger.run import machine, run_info, sigterm_as_interrupt
from inferwatch import tf_env
from inferwatch.explainers.reference import load_reference

KINDS = ("anchor_tabular", "kernel_shap")

DESCRIPTION = """\
Seconds per explanation of the same alibi explainers on the same model, on 127.0.0.1:

  in-process        alibi's explainer with predict_fn = the model's predict_proba, in this process
  inferwatch        inferwatch explainer --kind K --model-url <model server> (its own process), one
                    POST /api/v1.0/explain per instance
  inferwatch-batch  the same explainer, one POST holding every instance (seconds / instances)
  mlserver          MLServer's alibi-explain runtime: reported unavailable with the reason (it does not
                    install on Python 3.11 here)

Model: a RandomForest (50 trees) fitted on scikit-learn's iris, saved once; the model server is the
project's demo server (Seldon v1 over HTTP, uvicorn, one worker) loading that file; in-process uses
the same file. Both explainers are built by inferwatch.explainers.kinds from the same reference CSV with the same
seed and explain parameters (AnchorTabular threshold 0.95; KernelShap link=identity, 100 background rows).
Model calls per explanation come from the explainer's /metrics and from counting predict_fn calls.
Instance after instance both variants explain the same row (which goes first alternates), each after
--pause s of quiet (so one variant's BLAS threads, still spin-waiting, do not slow the next); the batch
request follows. 'cpu s' = CPU per explanation of every process involved (this one in-process; the
explainer + model server for inferwatch, /proc clock ticks): the work ratio, steadier than wall time
on a shared machine. TensorFlow is hidden from this process as from the explainer (neither uses it).

Targets (per kind): inferwatch mean <= 1.1x in-process; MLServer's runtime mean >= 2x inferwatch's.
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.explainers",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated (default {','.join(KINDS)})")
    p.add_argument("--instances", type=int, default=40, help="instances explained per kind (default 40)")
    p.add_argument("--seed", type=int, default=0, help="explainers' and instance choice's seed (default 0)")
    p.add_argument("--pause", type=float, default=0.1, help="seconds of quiet before each explanation (default 0.1)")
    p.add_argument("--no-batch", action="store_true", help="leave out the batch request")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds one explain request may take (default 120)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="no new instance starts after this many seconds of measuring per kind (default 600)",
    )
    p.add_argument(
        "--explainer-arg",
        action="append",
        default=[],
        help="extra argument for 'inferwatch explainer' (repeat; e.g. --explainer-arg=--batch-size=500)",
    )
    p.add_argument("--mlserver-python", type=Path, default=None, help="a Python that imports mlserver_alibi_explain")
    p.add_argument("--quick", action="store_true", help="smoke run (~20 s on a quiet machine): 5 instances per kind")
    p.add_argument("--json", type=Path, default=None, help="write every figure to this JSON file")
    p.add_argument("--workdir", type=Path, default=None, help="where the model, reference and logs go (default temp)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the work dir (logs) after the run")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = p.parse_args(argv)
    if args.quick:
        args.instances = min(args.instances, 5)
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown:
        p.error(f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(KINDS)}")
    if args.instances < 1:
        p.error("--instances must be at least 1")
    if args.pause < 0:
        p.error("--pause cannot be negative")
    return args


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def explain_one(
    variant: str, local: InProcess, remote: InferwatchExplainer, i: int, x: np.ndarray[Any, Any]
) -> tuple[Timing, dict[str, Any]]:
    """Instance ``i`` explained by ``variant`` (in-process or one inferwatch request): timing and explanation."""
    if variant == BASELINE:
        seconds, cpu, calls, doc = local.explain(x)
        return Timing(local.kind, variant, i, 1, seconds, float(calls), cpu), doc
    before = remote.model_calls()
    seconds, cpu, docs = remote.explain(x.reshape(1, -1))
    return Timing(remote.kind, variant, i, 1, seconds, remote.model_calls() - before, cpu), docs[0]


def run_kind(
    kind: str, args: argparse.Namespace, procs: Processes, model: Proc, paths: tuple[Path, Path]
) -> tuple[list[Timing], list[Summary]]:
    """Every measurement of one kind: start its explainer, alternate the variants per instance, batch."""
    model_file, reference_csv = paths
    reference = load_reference(reference_csv)
    rows = instances(reference.X, args.instances, args.seed)
    progress(f"[{kind}] starting inferwatch explainer (fits at start-up) ...")
    remote = InferwatchExplainer.start(procs, kind, model, reference_csv, args.seed, args.timeout, args.explainer_arg)
    progress(f"[{kind}] fitting in-process explainer ...")
    local = InProcess(kind, load_model(model_file).estimator.predict_proba, reference, args.seed)
    timings: list[Timing] = []
    summaries: list[Summary] = []
    deadline = time.monotonic() + args.max_seconds
    try:
        # one untimed explanation on each side first (imports, caches); the same row on both keeps the
        # explainers' random streams in step, so seeded explanations of the same instance can match
        local.explain(rows[0])
        remote.explain(rows[:1])
        for i, x in enumerate(tqdm(rows, desc=f"{kind} single requests", unit="expl", file=sys.stderr)):
            if time.monotonic() > deadline:
                progress(f"[{kind}] --max-seconds {args.max_seconds:g} reached after {i} instances")
                break
            for variant in (BASELINE, INFERWATCH) if i % 2 == 0 else (INFERWATCH, BASELINE):
                time.sleep(args.pause)  # let the previous variant's threads (BLAS spin-waits) go idle
                timing, doc = explain_one(variant, local, remote, i, x)
                timings.append(timing)
                summaries.append(summarize(kind, variant, i, doc))
        done = len({t.instance for t in timings})
        if not args.no_batch and done > 1:
            progress(f"[{kind}] one batch request of {done} instances ...")
            time.sleep(args.pause)
            before = remote.model_calls()
            seconds, cpu, docs = remote.explain(rows[:done])
            timings.append(Timing(kind, INFERWATCH_BATCH, 0, done, seconds, remote.model_calls() - before, cpu))
            summaries += [summarize(kind, INFERWATCH_BATCH, i, d) for i, d in enumerate(docs)]
    finally:
        remote.close()
        procs.stop(remote.proc)
    return timings, summaries


def print_results(rows: list[report.Row], checks: list[report.Check], verdicts: list[Any], mlserver_why: str) -> None:
    print(report.table(rows))
    print()
    print("Comparable work (explanations vs in-process alibi's of the same instances):")
    print(report.check_table(checks))
    print()
    print("Targets (PASS/MISS are measurements, not errors):")
    print(report.verdict_table(verdicts))
    if mlserver_why:
        print(f"n/a   mlserver / inferwatch mean: the MLServer variant is unavailable: {mlserver_why}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    # neither side uses TensorFlow: hide it here as the explainer process does for these kinds (alibi would
    # import it, ~10 s and a much larger heap), so the in-process baseline runs in the same kind of process
    tf_env.own_process()
    tf_env.prepare(needs_tensorflow=False)
    mlserver_why = mlserver_unavailable(args.mlserver_python)
    progress(f"MLServer alibi-explain variant unavailable: {mlserver_why}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="inferwatch-bench-explainers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    start_load, t0 = machine(), time.monotonic()
    timings: list[Timing] = []
    summaries: list[Summary] = []
    procs = Processes(workdir)
    try:
        with sigterm_as_interrupt():
            try:
                paths = fit_model(workdir)
                port = free_port()
                cmd = [sys.executable, "-m", "bench.explainers.model", "--model", str(paths[0]), "--port", str(port)]
                model = procs.start("model", cmd, port)
                for kind in args.kinds:
                    t, s = run_kind(kind, args, procs, model, paths)
                    timings += t
                    summaries += s
            finally:
                procs.stop_all()
    except KeyboardInterrupt:
        progress("interrupted: every process this run started has been stopped")
        return 130
    except BenchError as e:
        progress(f"benchmark failed (every process it started has been stopped): {e}")
        return 1
    finally:
        if not args.keep_workdir and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = report.aggregate(timings)
    checks = report.compare(summaries, INFERWATCH) + report.compare(summaries, INFERWATCH_BATCH)
    verdicts = report.verdicts(rows, mlserver_why)
    print_results(rows, checks, verdicts, mlserver_why)
    if args.json is not None:
        result = {
            **run_info(args, start_load, t0),
            "mlserver_unavailable": mlserver_why,
            "rows": [r.to_dict() for r in rows],
            "checks": [c.__dict__ for c in checks],
            "verdicts": [v.to_dict() for v in verdicts],
            "timings": [t.__dict__ for t in timings],
            "explanations": [s.__dict__ for s in summaries],
        }
        args.json.write_text(json.dumps(result, indent=2, default=_jsonable) + "\n")
        print(f"\nresults: {args.json}")
    return 0


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return str(v)
