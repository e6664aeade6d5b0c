"""The figures of docs/scaling.md: how pipeline time grows with the catalogue, and how API
throughput grows from one worker process to two.

    .venv/bin/python benchmarks/scaling.py                       # everything (~20-30 min)
    .venv/bin/python benchmarks/scaling.py --rows 10000 84916    # pipeline sizes only
    .venv/bin/python benchmarks/scaling.py --skip-pipeline --workers 1 2

Pipeline: `rakuten materialize` as a separate process per size, in a fresh temporary
RAKUTEN_HOME (embedded default: SQLite store and MLflow), with RAKUTEN_SYNTHETIC_ROWS=N and
RAKUTEN_INITIAL_SHARE=1.0 so the whole catalogue is the first batch: wall time of the command,
its CPU time (user + system: what the work costs, whatever else the machine is doing; the
1-minute load average before each run is printed beside it), peak RSS of the process, and the
time of each Dagster step (from the run's event log).

API: the champion of the smallest pipeline run served by `rakuten api --workers W`, driven by
wrk (Debian's package) with 32 connections on POST /predict (one item per request) and on
POST /predict/batch (64 items per request): requests/s, items/s, p50/p99 latency, errors. After
each load the API's /metrics must count exactly the predictions wrk got answers for: with
several workers that only holds in prometheus_client's multiprocess mode. (wrk does not report
the requests in flight when it stops, at most one per connection: the API counts those too.)

wrk runs on the same 2 cores as the API, so it takes CPU from the workers; the figures are for
this machine as a whole, not for the API alone.
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

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # for benchmarks/pipeline.py

FULL = 84_916
DEFAULT_ROWS = [10_000, FULL, 5 * FULL]


def clean_env(home: Path, rows: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RAKUTEN_", "MLFLOW_", "DAGSTER_", "PROMETHEUS_MULTIPROC"))}
    env.update({"RAKUTEN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
                "RAKUTEN_SYNTHETIC_ROWS": str(rows), "RAKUTEN_INITIAL_SHARE": "1.0",
                "PYTHONUNBUFFERED": "1"})
    return env


def step_times(dagster_home: Path) -> dict[str, float]:
    from dagster import DagsterInstance

    from pipeline import step_durations  # benchmarks/pipeline.py, beside this script

    if not dagster_home.is_dir():  # the run died before Dagster wrote anything
        return {}
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(limit=1)
        if not records:
            return {}
        return step_durations(instance, records[0].dagster_run.run_id)


def by_asset(steps: dict[str, float]) -> dict[str, float]:
    """Step seconds summed per asset: the ops of a graph-backed asset (`tfidf_features.fit_feature_part[words]`)
    and its checks (`training_dataset_data_quality`) count under the asset. In-process, steps run
    one after the other, so the sum is the asset's wall time."""
    out: dict[str, float] = {}
    for step, seconds in steps.items():
        asset = step.split(".")[0]
        asset = asset.removesuffix("_data_quality").removesuffix("_model_quality")
        out[asset] = out.get(asset, 0.0) + seconds
    return out


def run_pipeline(rows: int, home: Path) -> dict:
    env = clean_env(home, rows)
    log = home.parent / f"materialize-{rows}.log"
    home.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with log.open("w") as handle:
        proc = subprocess.Popen([str(BIN / "rakuten"), "materialize"], env=env, cwd=home,
                                stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    output = log.read_text()
    f1 = re.search(r"weighted_f1=([0-9.]+)", output)
    return {"rows": rows, "seconds": wall, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "load_before": load_before, "exit": code, "peak_rss_mb": usage.ru_maxrss / 1024,
            "weighted_f1": float(f1.group(1)) if f1 else None, "steps": by_asset(step_times(home / "dagster")),
            "log": str(log)}


# --- executors: the training job in one process against Dagster's multiprocess executor ----------

def parallel_training_job():
    """For `dagster.reconstructable`: the multiprocess executor starts each step in a new process
    that must rebuild the job from an importable function."""
    from rakuten_assets.definitions import defs

    return defs().resolve_job_def("parallel_training_job")


def serial_training_job():
    from rakuten_assets.definitions import defs

    return defs().resolve_job_def("training_job")


RUN_JOB = """
import json, sys, time
sys.path.insert(0, {bench!r})
from dagster import DagsterInstance, execute_job, reconstructable
import scaling
job = getattr(scaling, {name!r})
started = time.perf_counter()
with DagsterInstance.get() as instance:
    result = execute_job(reconstructable(job), instance=instance, raise_on_error=False)
    print(json.dumps({{"seconds": time.perf_counter() - started, "success": result.success,
                      "run_id": result.run_id}}))
"""


def run_training_executor(rows: int, home: Path, job: str) -> dict:
    """Fresh home, the catalogue ingested, then the training job alone as a run of its own
    process (as the daemon launches it): `serial_training_job` (in-process executor) or
    `parallel_training_job` (multiprocess executor, one process per step, two at once here)."""
    env = clean_env(home, rows)
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BIN / "rakuten"), "materialize", "--job", "ingest_job"], env=env, cwd=home,
                   check=True, capture_output=True)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", RUN_JOB.format(bench=str(Path(__file__).resolve().parent),
                                                                   name=job)],
                            env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out, _ = proc.communicate()
    wall = time.perf_counter() - started
    report = json.loads(out.strip().splitlines()[-1]) if out.strip() else {"success": False}
    return {"job": job, "rows": rows, "seconds": wall, "success": report.get("success", False),
            "steps": step_times(home / "dagster") if report.get("success") else {}}


# --- API -----------------------------------------------------------------------------------------

WRK_SCRIPT = """
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "%(path)s", nil, bodies[i])
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"API exited with {proc.returncode}")
        try:
            if httpx.get(url + "/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("API not ready in time")


def parse_wrk(output: str) -> dict:
    def seconds(text: str) -> float:
        value, unit = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text).groups()
        return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]

    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", output, re.M))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {"requests": total, "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", output).group(1)),
            "p50_ms": seconds(latency["50"]) * 1e3, "p99_ms": seconds(latency["99"]) * 1e3,
            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, errors.groups())) if errors else 0}


def predictions_counted(url: str) -> float:
    import httpx

    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(float(v) for v in re.findall(r"^rakuten_predictions_total\{[^}]*\} ([0-9.e+]+)$", text, re.M))


def bench_api(home: Path, workers: int, seconds: int, connections: int, workdir: Path) -> list[dict]:
    from rakuten_assets.core.synthetic import generate_catalogue

    frame = generate_catalogue(2_000, seed=99)
    items = [{"designation": r.designation,
              "description": None if r.description != r.description else r.description}
             for r in frame.itertuples()]
    single = workdir / "single.jsonl"
    single.write_text("\n".join(json.dumps(item) for item in items) + "\n")
    batch = workdir / "batch64.jsonl"
    batch.write_text("\n".join(json.dumps({"items": items[i:i + 64]})
                               for i in range(0, len(items) - 64, 64)) + "\n")

    env = clean_env(home, 10_000)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = workdir / f"api-{workers}.log"
    with log.open("w") as handle:
        proc = subprocess.Popen([str(BIN / "rakuten"), "api", "--host", "127.0.0.1", "--port", str(port),
                                 "--workers", str(workers)], env=env, cwd=home, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)
    results = []
    try:
        wait_ready(url, proc)
        time.sleep(2 if workers == 1 else 5)  # every worker loads the model
        for name, path, bodies, per_request in (("single", "/predict", single, 1),
                                                ("batch64", "/predict/batch", batch, 64)):
            script = workdir / f"{name}.lua"
            script.write_text(WRK_SCRIPT % {"bodies": bodies, "path": path})
            # warm-up, then the measured run
            subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", "3s", "--timeout", "10s",
                            "-s", str(script), url],
                           capture_output=True, text=True, check=True)
            before = predictions_counted(url)
            out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s",
                                  "--timeout", "10s", "--latency", "-s", str(script), url],
                                 capture_output=True, text=True, check=True).stdout
            stats = parse_wrk(out)
            time.sleep(1)
            counted = predictions_counted(url) - before
            answered = (stats["requests"] - stats["non_2xx"]) * per_request
            # Requests still in flight when wrk stops (at most one per connection, plus those
            # it gave up on) are answered and counted by the API but not reported by wrk.
            slack = (connections + stats["socket_errors"]) * per_request
            stats.update({"workers": workers, "load": name, "items_per_s": stats["rps"] * per_request,
                          "metrics_counted": counted, "answered_items": answered,
                          "metrics_ok": answered <= counted <= answered + slack})
            results.append(stats)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=DEFAULT_ROWS)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--seconds", type=int, default=20, help="wrk duration per load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--executors", type=int, default=None, metavar="ROWS",
                        help="also time the training job at ROWS rows on the in-process executor "
                             "and on the multiprocess one (parallel_training_job)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()

    if shutil.which("wrk") is None and args.workers:
        print("wrk is not installed (apt-get install wrk): API figures skipped")
        args.workers = []
    base = Path(tempfile.mkdtemp(prefix="rakuten-scaling-"))
    print(f"machine: {os.cpu_count()} cpus; load average {os.getloadavg()[0]:.2f}; work folder {base}")
    serving_home = None
    try:
        rows_list = sorted(args.rows)
        if args.skip_pipeline:
            rows_list = [rows_list[0]] if args.workers else []
        pipeline = []
        for rows in rows_list:
            result = run_pipeline(rows, base / f"home-{rows}")
            pipeline.append(result)
            print(json.dumps(result), flush=True)  # each size as soon as it is measured
            serving_home = serving_home or base / f"home-{rows}"
            if result["exit"] != 0:
                print(f"pipeline at {rows:,} rows FAILED (exit {result['exit']}), log: {result['log']}")
        if pipeline and not args.skip_pipeline:
            print("\n## Pipeline: `rakuten materialize`, whole catalogue in one batch (embedded default)")
            steps = list(dict.fromkeys(s for r in pipeline for s in r["steps"]))
            header = f"{'rows':>9} {'wall s':>8} {'CPU s':>8} {'load':>5} {'peak RSS MB':>12} {'weighted F1':>12}  " + \
                     "  ".join(f"{s.split('.')[0][:22]:>22}" for s in steps)
            print(header)
            for r in pipeline:
                f1 = f"{r['weighted_f1']:.4f}" if r["weighted_f1"] is not None else "-"
                print(f"{r['rows']:>9,} {r['seconds']:>8.1f} {r['cpu_seconds']:>8.1f} {r['load_before']:>5.1f} "
                      f"{r['peak_rss_mb']:>12,.0f} {f1:>12}  " +
                      "  ".join(f"{r['steps'].get(s, float('nan')):>22.1f}" for s in steps))
            first = pipeline[0]
            for r in pipeline[1:]:
                print(f"{r['rows'] / first['rows']:.1f}x rows -> {r['seconds'] / first['seconds']:.2f}x wall "
                      f"time, {r['cpu_seconds'] / first['cpu_seconds']:.2f}x CPU time")
        if args.executors:
            print(f"\n## Training job at {args.executors:,} rows: in-process against multiprocess executor "
                  f"(load average {os.getloadavg()[0]:.1f})")
            runs = {}
            for job in ("serial_training_job", "parallel_training_job"):
                runs[job] = run_training_executor(args.executors, base / f"exec-{job}", job)
                r = runs[job]
                steps = ", ".join(f"{k.split('.')[0]} {v:.1f}" for k, v in r["steps"].items())
                print(f"{job:>22}: {r['seconds']:7.1f} s wall, success={r['success']}; steps (s): {steps}")
            serial, parallel = runs["serial_training_job"], runs["parallel_training_job"]
            if serial["success"] and parallel["success"]:
                print(f"multiprocess speed-up: {serial['seconds'] / parallel['seconds']:.2f}x wall time "
                      f"(in-process {serial['seconds']:.1f} s / multiprocess {parallel['seconds']:.1f} s)")
        if args.workers and serving_home is not None:
            print(f"\n## API: wrk, {args.connections} connections, {args.seconds}s per load")
            print(f"{'workers':>7} {'load':>8} {'req/s':>9} {'items/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'errors':>7} {'metrics ok':>10}")
            api = []
            for workers in args.workers:
                api += bench_api(serving_home, workers, args.seconds, args.connections, base)
            for r in api:
                ok = "yes" if r["metrics_ok"] else f"NO ({r['metrics_counted']:.0f} vs {r['answered_items']})"
                print(f"{r['workers']:>7} {r['load']:>8} {r['rps']:>9.0f} {r['items_per_s']:>9.0f} "
                      f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['non_2xx'] + r['socket_errors']:>7} {ok:>10}")
            for load in ("single", "batch64"):
                by = {r["workers"]: r for r in api if r["load"] == load}
                if 1 in by and 2 in by:
                    print(f"{load}: 2 workers / 1 worker = {by[2]['rps'] / by[1]['rps']:.2f}x throughput")
    finally:
        print(f"load average at the end: {os.getloadavg()[0]:.2f}")
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
