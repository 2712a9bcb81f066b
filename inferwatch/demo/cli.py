"""``inferwatch demo``: train iris, serve it (Seldon v1 + V2), put the logger in front, show the records."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any, TextIO

import aiohttp
import orjson

from inferwatch.demo.detectors import DRIFT_WINDOW, DemoDetectors, start_detectors
from inferwatch.demo.explainer import DemoExplainer, start_explainer
from inferwatch.demo.model_server import write_iris_reference
from inferwatch.errors import ConfigError
from inferwatch.logger.app import create_app, create_logger_admin_app
from inferwatch.logger.service import LoggerService
from inferwatch.logger.settings import LoggerSettings
from inferwatch.records import InferenceRecord
from inferwatch.serve import run as serve
from inferwatch.settings import common
from inferwatch.stores import RecordQuery, open_store

HELP = "one-command tour: an iris model behind the request logger, on the embedded store"
DESCRIPTION = """\
Trains a scikit-learn iris classifier, serves it with a small example model server that speaks the
Seldon v1 protocol (/api/v1.0/predictions) and the Open Inference Protocol V2 (/v2/models/iris/infer),
puts the request logger in front of it on --port (8080) and records every prediction in the embedded
store. It prints the curl commands to try and the audit command that shows what was recorded.
Stop it with Ctrl-C. No Kafka or Elasticsearch is needed.

With --self-test it sends the example requests itself, prints what the audit search finds and exits
(non-zero if a request was not recorded).
"""

SELDON_BODY = '{"data": {"ndarray": [[5.1, 3.5, 1.4, 0.2]]}}'
V2_BODY = (
    '{"inputs": [{"name": "predict", "shape": [2, 4], "datatype": "FP32", '
    '"data": [[6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]}]}'
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=8080, help="logger port, the one you curl (default %(default)s)")
    p.add_argument("--model-port", type=int, default=9000, help="example model server port (default %(default)s)")
    p.add_argument("--metrics-port", type=int, default=8082, help="logger metrics port (default %(default)s)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default %(default)s)")
    p.add_argument("--store", help="store URI (default: the embedded store, $INFERWATCH_HOME/inferwatch.db)")
    p.add_argument("--self-test", action="store_true", help="send the example requests, show the audit, exit")
    p.add_argument(
        "--detector-port",
        type=int,
        default=9101,
        help="first of 4 ports: outlier detector, its metrics, drift detector, its metrics (default %(default)s)",
    )
    p.add_argument("--no-detectors", action="store_true", help="run without the outlier and drift detectors")
    p.add_argument(
        "--explainer-port",
        type=int,
        default=9105,
        help="AnchorTabular explainer port, its metrics on the next (default %(default)s)",
    )
    p.add_argument("--no-explainer", action="store_true", help="run without the explainer")


def instructions(port: int, metrics_port: int, store: str, dets: DemoDetectors, expl: DemoExplainer) -> str:
    base = f"http://localhost:{port}"
    store_flag = "" if store == common().default_store_uri else f" --store {store}"
    return f"""
inferwatch demo is running: iris model behind the request logger.

Try it (Seldon v1 protocol):
  curl -X POST {base}/api/v1.0/predictions -H 'Content-Type: application/json' -d '{SELDON_BODY}'

Open Inference Protocol (V2), a batch of two:
  curl -X POST {base}/v2/models/iris/infer -H 'Content-Type: application/json' -d '{V2_BODY}'

See what was recorded (request and response paired):
  inferwatch audit{store_flag} --model iris --since 10m -v

Logger metrics: curl http://localhost:{metrics_port}/metrics
{_detector_lines(dets)}
{_explainer_lines(expl)}
Stop with Ctrl-C.
"""


def _explainer_lines(expl: DemoExplainer) -> str:
    if not expl.url:
        return expl.note
    return (
        "Why did the model say that? An AnchorTabular explanation of the same instance:\n"
        f"  curl -X POST {expl.url}/api/v1.0/explain -H 'Content-Type: application/json' -d '{SELDON_BODY}'"
    )


def _detector_lines(dets: DemoDetectors) -> str:
    if not dets.metrics_urls:
        return dets.note
    return (
        "Every request also goes to an outlier detector (IForest) and a drift detector (KS, windows of "
        f"{DRIFT_WINDOW} instances):\n"
        f"  curl -s {dets.metrics_urls['outlier']} | grep seldon_metric_outlier\n"
        f"  curl -s {dets.metrics_urls['drift']} | grep seldon_metric_drift\n"
        "Their results are stored with the records: inferwatch audit --request-id ID shows them, and\n"
        "  inferwatch audit --flag outlier        the requests the outlier detector flagged"
    )


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from inferwatch.demo.model_server import create_model_app, train_iris

    out = out or sys.stdout
    store = args.store or common().default_store_uri
    model = train_iris()
    workdir = common().home / "demo"
    reference = write_iris_reference(workdir / "iris-reference.csv")
    dets = DemoDetectors() if args.no_detectors else start_detectors(workdir, reference, args.detector_port, store)
    expl = DemoExplainer() if args.no_explainer else start_explainer(reference, args.model_port, args.explainer_port)
    settings = LoggerSettings(
        upstream=f"http://127.0.0.1:{args.model_port}",
        host=args.host,
        port=args.port,
        metrics_port=args.metrics_port,
        sink=[store, *dets.sinks],
        linger_ms=10,
    )
    service = LoggerService(settings)
    service.start()
    result = {"ok": True}

    async def when_started() -> bool:
        out.write(instructions(args.port, args.metrics_port, store, dets, expl))
        out.flush()
        if not args.self_test:
            return False
        ids: list[str] = []
        result["ok"] = (
            await self_test(args.port, store, out, ids)
            and await detectors_saw_traffic(dets, out)
            and await results_recorded(dets, store, ids, out)
            and await explains(expl, out)
        )
        return True

    try:
        serve(
            create_app(service),
            args.host,
            args.port,
            create_logger_admin_app(service),
            args.metrics_port,
            side=[(create_model_app(model), "127.0.0.1", args.model_port), *dets.sides, *expl.sides],
            when_started=when_started,
            proxy=True,
        )
    finally:
        service.stop()
        dets.close()
    return 0 if result["ok"] else 1


async def results_recorded(dets: DemoDetectors, store_uri: str, ids: list[str], out: TextIO) -> bool:
    """The outlier detector's verdicts on the example requests reached the store, under their request ids."""
    if not dets.publishers:
        return True
    for _ in range(100):
        await asyncio.sleep(0.1)
        store = open_store(store_uri)
        try:
            found = store.results_for(ids)
        finally:
            store.close()
        if {r.request_id for r in found if r.kind == "outlier"} == set(ids):
            out.write("\nStored detector results (inferwatch audit --request-id ID shows them):\n")
            for r in found:
                out.write(f"  {r.request_id} {r.kind}{f'[{r.item}]' if r.item is not None else ''}: {r.body['data']}\n")
            return True
    logging.getLogger("inferwatch.demo").error("the outlier detector's results were not stored within 10 s")
    return False


async def explains(expl: DemoExplainer, out: TextIO) -> bool:
    """The explainer answers the seed instance with an anchor."""
    if not expl.url:
        return True
    async with aiohttp.ClientSession() as http:
        url = expl.url.replace("localhost", "127.0.0.1") + "/api/v1.0/explain"
        async with http.post(url, data=SELDON_BODY, headers={"Content-Type": "application/json"}) as r:
            body = await r.json(content_type=None)
    anchor = body.get("data", {}).get("anchor") if isinstance(body, dict) else None
    out.write(f"\nPOST /api/v1.0/explain -> {r.status} anchor={anchor}\n")
    return r.status == 200 and bool(anchor)


async def detectors_saw_traffic(dets: DemoDetectors, out: TextIO, instances: int = 3) -> bool:
    """The self-test's requests (3 instances) reached both detectors: show their metrics."""
    if not dets.metrics_urls:
        return True
    async with aiohttp.ClientSession() as http:
        for name, url in dets.metrics_urls.items():
            want = f'inferwatch_detector_instances_total{{detector_type="{name}"}} {float(instances)}'
            for _ in range(100):
                async with http.get(url) as r:
                    text = await r.text()
                if want in text:
                    break
                await asyncio.sleep(0.1)
            else:
                logging.getLogger("inferwatch.demo").error("the %s detector did not see the requests", name)
                return False
            out.write(f"\n{name} detector ({url}):\n")
            for line in text.splitlines():
                if line.startswith(("seldon_metric_", "inferwatch_detector_instances_total")):
                    out.write(f"  {line}\n")
    return True


def summary(r: InferenceRecord) -> dict[str, Any]:
    """The parts of a record a person wants to see first."""
    d = r.to_dict()
    keep = ("id", "received_at", "latency_ms", "model_name", "protocol", "path", "status_code", "flags")
    return {**{k: d[k] for k in keep}, "instances": d["instances"]}


async def self_test(port: int, store_uri: str, out: TextIO, ids: list[str]) -> bool:
    """Send the two example requests through the logger and check the store has them, paired (their request
    ids are appended to ``ids``)."""
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for path, body in (("/api/v1.0/predictions", SELDON_BODY), ("/v2/models/iris/infer", V2_BODY)):
            async with http.post(base + path, data=body, headers={"Content-Type": "application/json"}) as r:
                text = await r.text()
                rid = r.headers.get("x-request-id", "")
                out.write(f"POST {path} -> {r.status} x-request-id={rid}\n  {text}\n")
                if r.status != 200:
                    return False
                ids.append(rid)
    store = None
    for _ in range(100):
        await asyncio.sleep(0.1)
        try:
            store = store or open_store(store_uri)
        except ConfigError:
            continue
        found = [store.query(RecordQuery(request_id=i, limit=1)) for i in ids]
        if all(found):
            out.write("\nRecorded:\n")
            for recs in found:
                out.write(orjson.dumps(summary(recs[0]), option=orjson.OPT_INDENT_2).decode() + "\n")
            store.close()
            return True
    logging.getLogger("inferwatch.demo").error("the example requests were not recorded within 10 s")
    return False
