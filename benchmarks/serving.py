"""Serving benchmark: this API against `mlflow models serve`, same model, same machine, same
load generator (wrk, 32 connections), single and batch requests, in one run.

    .venv/bin/python benchmarks/serving.py [--rows 20000] [--duration 15] [--connections 32]
                                           [--batch 256] [--real] [--keep DIR]

Registers one model (`build_classifier()` fitted on the synthetic catalogue, or on the real
`labeled_text.csv` with --real) in a fresh temporary RAKUTEN_HOME, then serves it
(a) with this API: uvicorn, 1 worker (`api.main.serve`), and
(b) with `mlflow models serve -m models:/rakuten_classifier/<v> --env-manager local` (1 worker).
Each server is warmed up, then driven by wrk with a Lua script cycling through pre-encoded POST
bodies: single items (`/predict` vs `/invocations` with `dataframe_records` of one row) and
batches of --batch items. Prints requests/s, items/s, p50/p99 latency and errors for both, the
throughput ratio, and the issues' targets: >= 3x mlflow's single-request throughput, p99 under
25 ms, zero errors, >= 10,000 items/s with batches of 256, and (issue 14) >= 3x mlflow's items/s
with batches of 256.

wrk comes from Debian (`apt-get install -y wrk`). The numbers depend on what else runs on the
machine: the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL_DATA = ROOT.parent / "shared" / "data" / "rakuten"
TARGET_RATIO, TARGET_P99_MS, TARGET_BATCH_ITEMS = 3.0, 25.0, 10_000

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {}
local f = assert(io.open("%(bodies)s", "r"))
for line in f:lines() do bodies[#bodies + 1] = line end
f:close()
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i %% #bodies) + 1])
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited while starting; log:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not up after {timeout:.0f} s; log:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)


def train_and_register(rows: int, real: bool, reuse: bool = False) -> tuple[str, object]:
    import mlflow
    import pandas as pd

    from rakuten_assets.core.model import build_classifier
    from rakuten_assets.core.registry import ModelRegistry, ensure_experiment
    from rakuten_assets.core.promotion import MOVE_BY_PERSON, move_champion
    from rakuten_assets.core.store import ProductStore
    from rakuten_assets.core.settings import get_settings
    from rakuten_assets.core.synthetic import generate_catalogue
    from rakuten_assets.core.training import TEXT_COLUMNS, log_model

    settings = get_settings()
    if reuse and (champion := ModelRegistry(settings).champion()) is not None:
        frame = (pd.read_csv(REAL_DATA / "labeled_text.csv") if real
                 else generate_catalogue(rows, seed=42))
        print(f"model: reusing {settings.model_name} version {champion.version} from {settings.home}")
        return str(champion.version), frame
    if real:
        frame = pd.read_csv(REAL_DATA / "labeled_text.csv")
        source = f"real labeled_text.csv ({len(frame)} rows)"
    else:
        frame = generate_catalogue(rows, seed=42)
        source = f"synthetic catalogue ({rows} rows)"
    t0 = time.perf_counter()
    pipeline = build_classifier().fit(frame[TEXT_COLUMNS], frame["prdtypecode"])
    fit_s = time.perf_counter() - t0
    with mlflow.start_run(experiment_id=ensure_experiment(settings)):
        info = log_model(pipeline, registered_model_name=settings.model_name,
                         input_example=frame[TEXT_COLUMNS].head(2))
    version = str(info.registered_model_version)
    move_champion(ModelRegistry(settings), ProductStore(settings.db_url), version, kind=MOVE_BY_PERSON,
                  actor="serving benchmark", reason="serving benchmark")
    print(f"model: build_classifier() fitted on the {source} in {fit_s:.1f} s, "
          f"registered as {settings.model_name} version {version}")
    return version, frame


def sample_items(frame, n: int, seed: int = 7) -> list[dict]:
    import pandas as pd

    sample = frame.sample(n=min(n, len(frame)), random_state=seed, replace=len(frame) < n)
    return [{"designation": d, "description": None if pd.isna(s) else s}
            for d, s in zip(sample["designation"], sample["description"])]


def write_bodies(path: Path, bodies: list[dict]) -> Path:
    with path.open("w") as f:
        for body in bodies:
            f.write(json.dumps(body, ensure_ascii=False) + "\n")
    return path


def parse_wrk(text: str) -> dict:
    def seconds(value: str, unit: str) -> float:
        return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]

    out = {"requests": 0, "rps": 0.0, "p50_ms": float("nan"), "p99_ms": float("nan"), "errors": 0}
    m = re.search(r"(\d+) requests in", text)
    out["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else 0.0
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
        if m:
            out[key] = seconds(m.group(1), m.group(2)) * 1000
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    out["errors"] = errors
    return out


def run_wrk(url: str, bodies: Path, workdir: Path, *, duration: int, connections: int,
            threads: int) -> dict:
    script = workdir / (bodies.stem + ".lua")
    script.write_text(LUA % {"bodies": bodies})
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency",
           "--timeout", "60s", "-s", str(script), url]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 120)
    if done.returncode != 0:
        raise SystemExit(f"wrk failed: {done.stderr or done.stdout}")
    with (workdir / "wrk.log").open("a") as log:
        log.write(f"$ {' '.join(cmd)}\n{done.stdout}\n")
    return parse_wrk(done.stdout)


def model_cpu_profile(settings, version: str, items: list[dict]) -> None:
    """The model hot path alone, in this process, in CPU time (`time.process_time`): what the
    machine's other load cannot inflate. sklearn's `pipeline.predict_proba` against the API's
    optimised predictor, per call, for 1, 32 and 256 rows, the median of repeated calls. The
    predictor's chunk cache is warm after the first call on the same rows; "cold" is a first
    call of a new predictor on rows it never saw (every chunk computed)."""
    import mlflow.sklearn

    from api.engine.predictor import Predictor, to_frame

    uri = f"models:/{settings.model_name}/{version}"
    reference = mlflow.sklearn.load_model(uri)
    predictor = Predictor(mlflow.sklearn.load_model(uri))
    described = {k: v for k, v in predictor.describe().items() if k != "chunk_caches"}
    print(f"model hot path, CPU ms per call (optimised parts: {described})")
    for n in (1, 32, 256):
        chunk = items[:n]
        d = [it["designation"] for it in chunk]
        s = [it["description"] for it in chunk]
        frame = to_frame(d, s)
        cold = Predictor(mlflow.sklearn.load_model(uri))
        t0 = time.process_time()
        cold.predict(d, s)
        cold_ms = (time.process_time() - t0) * 1000
        figures = []
        for fn in (lambda: reference.predict_proba(frame), lambda: predictor.predict(d, s)):
            fn()
            times = []
            for _ in range(max(15, 512 // n)):
                t0 = time.process_time()
                fn()
                times.append(time.process_time() - t0)
            figures.append(float(np.median(times)) * 1000)
        print(f"  {n:>3} rows: sklearn pipeline {figures[0]:8.2f} ms ({n / figures[0] * 1000:7.0f} rows/s), "
              f"API predictor {figures[1]:7.2f} ms ({n / figures[1] * 1000:7.0f} rows/s), "
              f"{figures[0] / figures[1]:.1f}x; cold chunk cache {cold_ms:.2f} ms")


def drained(url: str, bodies: Path, timeout: float = 120.0) -> None:
    """Wait until the server has worked through what wrk left queued when it hung up (a probe
    request is answered only after the backlog), so that runs do not measure each other."""
    body = bodies.read_text().splitlines()[0].encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            httpx.post(url, content=body, headers={"content-type": "application/json"},
                       timeout=timeout)
        except httpx.HTTPError:
            pass
        if time.perf_counter() - t0 < 2.0:
            return
    print(f"  (server at {url} still busy after {timeout:.0f} s)")


def check_answers(url_api: str, url_mlflow: str | None, item: dict) -> None:
    r = httpx.post(url_api + "/predict", json=item, timeout=30)
    r.raise_for_status()
    print(f"  API answers:    {r.json()['prdtypecode']} ({r.json()['category']})")
    if url_mlflow:
        r = httpx.post(url_mlflow + "/invocations", json={"dataframe_records": [item]}, timeout=30)
        r.raise_for_status()
        print(f"  MLflow answers: {r.json()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic training rows")
    parser.add_argument("--real", action="store_true", help="train on ../shared labeled_text.csv")
    parser.add_argument("--duration", type=int, default=15, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--batch", type=int, default=256, help="items per batch request")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--keep", type=Path, default=None, help="use (and keep) this folder")
    parser.add_argument("--reuse", action="store_true", help="with --keep: serve the champion "
                        "already registered there instead of training again")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")

    workdir = args.keep or Path(tempfile.mkdtemp(prefix="rakuten-serving-"))
    workdir.mkdir(parents=True, exist_ok=True)
    home = workdir / "home"
    os.environ.update({"RAKUTEN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")})
    for key in [k for k in os.environ if k.startswith("RAKUTEN_") and k not in
                ("RAKUTEN_HOME",)] + ["MLFLOW_TRACKING_URI"]:
        os.environ.pop(key, None)
    from rakuten_assets.core.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_dirs()
    print(f"workdir {workdir}; {os.cpu_count()} CPUs; load average {os.getloadavg()}")
    version, frame = train_and_register(args.rows, args.real, args.reuse)
    items = sample_items(frame, 2000)
    single_api = write_bodies(workdir / "single_api.jsonl", items)
    single_mlflow = write_bodies(workdir / "single_mlflow.jsonl",
                                 [{"dataframe_records": [it]} for it in items])
    batches = [items[i:i + args.batch] for i in range(0, len(items) - args.batch + 1, args.batch // 4)][:20]
    batch_api = write_bodies(workdir / "batch_api.jsonl", [{"items": b} for b in batches])
    batch_mlflow = write_bodies(workdir / "batch_mlflow.jsonl", [{"dataframe_records": b} for b in batches])

    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": settings.tracking_uri,
           # `mlflow models serve` runs `uvicorn` from PATH: the one beside this interpreter
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           # the API's access to the inference log is part of what is measured
           "RAKUTEN_DATABASE_URL": settings.db_url}
    results: dict[tuple[str, str], dict] = {}
    procs = []
    try:
        api_port = free_port()
        api_log = workdir / "api.log"
        api = subprocess.Popen([sys.executable, "-c", "import sys; from api.main import serve; "
                                "serve('127.0.0.1', int(sys.argv[1]), log_level='warning')",
                                str(api_port)], env=env, cwd=workdir, start_new_session=True,
                               stdout=api_log.open("wb"), stderr=subprocess.STDOUT)
        procs.append(api)
        api_url = f"http://127.0.0.1:{api_port}"
        wait_http(api_url + "/ready", api, 300, api_log)

        mlflow_url = None
        if not args.skip_mlflow:
            ml_port = free_port()
            ml_log = workdir / "mlflow.log"
            mlflow_bin = Path(sys.executable).with_name("mlflow")
            ml = subprocess.Popen([str(mlflow_bin), "models", "serve", "-m",
                                   f"models:/{settings.model_name}/{version}", "--env-manager",
                                   "local", "--host", "127.0.0.1", "--port", str(ml_port),
                                   "--workers", "1"],
                                  env=env, cwd=workdir, start_new_session=True,
                                  stdout=ml_log.open("wb"), stderr=subprocess.STDOUT)
            procs.append(ml)
            mlflow_url = f"http://127.0.0.1:{ml_port}"
            wait_http(mlflow_url + "/ping", ml, 300, ml_log)
        check_answers(api_url, mlflow_url, items[0])

        plan = [("API", "single", api_url + "/predict", single_api, 1),
                ("API", "batch", api_url + "/predict/batch", batch_api, args.batch)]
        if mlflow_url:
            plan += [("mlflow serve", "single", mlflow_url + "/invocations", single_mlflow, 1),
                     ("mlflow serve", "batch", mlflow_url + "/invocations", batch_mlflow, args.batch)]
        for server, mode, url, bodies, per_request in plan:
            run_wrk(url, bodies, workdir, duration=args.warmup, connections=args.connections,
                    threads=args.threads)
            drained(url, bodies)
            res = run_wrk(url, bodies, workdir, duration=args.duration,
                          connections=args.connections, threads=args.threads)
            res["items_per_s"] = res["rps"] * per_request
            results[(server, mode)] = res
            drained(url, bodies)
            print(f"  measured {server:>12} {mode:>6}: {res['rps']:9.1f} req/s, "
                  f"p99 {res['p99_ms']:.1f} ms, errors {res['errors']}", flush=True)
        served = httpx.get(api_url + "/metrics", timeout=10).text
        caches = httpx.get(api_url + "/model", timeout=10).json()["serving_path"].get("chunk_caches", [])
    finally:
        for proc in procs:
            stop(proc)

    print()
    model_cpu_profile(settings, version, items)
    print()
    print(f"wrk, {args.connections} connections, {args.threads} threads, {args.duration} s per "
          f"run, after a {args.warmup} s warm-up; batch = {args.batch} items per request; "
          f"load average now {os.getloadavg()}")
    header = f"{'server':>12} {'mode':>6} {'req/s':>10} {'items/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(header)
    print("-" * len(header))
    for (server, mode), r in results.items():
        print(f"{server:>12} {mode:>6} {r['rps']:10.1f} {r['items_per_s']:10.0f} "
              f"{r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['errors']:7d}")
    print()
    api_single, api_batch = results[("API", "single")], results[("API", "batch")]
    verdicts = []
    if ("mlflow serve", "single") in results:
        ml_single, ml_batch = results[("mlflow serve", "single")], results[("mlflow serve", "batch")]
        ratio = api_single["rps"] / ml_single["rps"] if ml_single["rps"] else float("inf")
        ratio_b = api_batch["rps"] / ml_batch["rps"] if ml_batch["rps"] else float("inf")
        print(f"throughput ratio API / mlflow serve: single {ratio:.1f}x, batch {ratio_b:.1f}x")
        verdicts.append((f"single throughput >= {TARGET_RATIO:.0f}x mlflow serve", ratio >= TARGET_RATIO))
        # issue 14: batches of --batch items, same model, same run
        verdicts.append((f"batch of {args.batch} throughput >= {TARGET_RATIO:.0f}x mlflow serve",
                         ratio_b >= TARGET_RATIO))
    verdicts += [
        (f"API single p99 < {TARGET_P99_MS:.0f} ms", api_single["p99_ms"] < TARGET_P99_MS),
        ("API zero errors", api_single["errors"] == 0 and api_batch["errors"] == 0),
        (f"API batch of {args.batch} >= {TARGET_BATCH_ITEMS:,} items/s",
         api_batch["items_per_s"] >= TARGET_BATCH_ITEMS),
    ]
    for label, ok in verdicts:
        print(f"  [{'met' if ok else 'NOT met'}] {label}")
    m = re.search(r"^rakuten_predict_batch_size_sum\{path=\"single\"\} ([\d.e+]+)$", served, re.MULTILINE)
    c = re.search(r"^rakuten_predict_batch_size_count\{path=\"single\"\} ([\d.e+]+)$", served, re.MULTILINE)
    if m and c and float(c.group(1)):
        print(f"  mean micro-batch size of single requests: {float(m.group(1)) / float(c.group(1)):.1f}")
    for cache in caches:
        print(f"  the API's chunk cache after the runs: {cache['chunks']:,} chunks, hit rate "
              f"{cache['hit_rate']} over {cache['lookups']:,} look-ups, emptied {cache['clears']} times "
              f"(the wrk bodies cycle through {len(items):,} sampled products)")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
