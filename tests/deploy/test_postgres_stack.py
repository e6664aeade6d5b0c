"""The docker-compose stack without Docker: the same programs as plain processes, on PostgreSQL.

Against the PostgreSQL server this machine runs (127.0.0.1:5432, user postgres): three fresh
databases made by the deployment's own init script (deploy/postgres-init.sh), an `mlflow server`
process with its backend store in PostgreSQL and proxied artifacts, DAGSTER_HOME holding the
deployment's deploy/dagster.yaml (dagster-postgres storage), then, each in its own process:
`rakuten ingest`, `rakuten materialize`, `rakuten api` serving predictions whose inference log
lands in PostgreSQL, and the drift report (`rakuten materialize --job drift_job`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.env import PG_ADMIN_URL, PROJECT_ROOT
from tests.support.postgres import pg_available, pg_conninfo, pg_execute
from tests.support.postgres import pg_query as query
from tests.support.services import free_port

ROOT = PROJECT_ROOT
BIN = Path(sys.executable).parent
DRIFT_JOB = "drift_job"  # the job that materialises the `drift_report` asset


# Generous: on a loaded machine the stack took up to ~7 minutes; on a quiet one about 2.5.
pytestmark = pytest.mark.timeout(1200)


# --- helpers ------------------------------------------------------------------------------------

def wait_until(check: Callable[[], object], timeout: float, what: str,
               proc: subprocess.Popen | None = None, log: Path | None = None, interval: float = 0.5):
    """Poll `check` until it returns something truthy; fail with the process log otherwise."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: the process exited with {proc.returncode}\n{tail(log)}")
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_error = exc
        time.sleep(interval)
    pytest.fail(f"{what}: not within {timeout:.0f}s (last error: {last_error!r})\n{tail(log)}")


def tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()
    return f"--- last lines of {log.name} ---\n" + "\n".join(text[-lines:])


def pg_url(database: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{database}"


def pg_query(database: str, sql: str, params: tuple = ()) -> list[tuple]:
    return query(pg_url(database), sql, params)


def psycopg2_url(url: str) -> str:
    """SQLAlchemy 2.1 reads postgresql:// as psycopg 3; the project's driver is psycopg2."""
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "rakuten"), *args], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, (f"`rakuten {' '.join(args)}` exited {result.returncode}\n"
                                    f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


class Processes:
    """Background processes of one test, each logging to a file; all stopped in `stop_all`."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, Path]:
        log = self.log_dir / f"{name}.log"
        handle = log.open("w")
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)
        handle.close()
        self.procs.append((name, proc))
        return proc, log

    @staticmethod
    def stop(proc: subprocess.Popen, grace: float = 20) -> int | None:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        return proc.returncode

    def stop_all(self) -> None:
        for _, proc in reversed(self.procs):
            self.stop(proc)


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture
def stack_databases():
    """rakuten, mlflow and dagster databases (unique names), made by deploy/postgres-init.sh as
    the postgres image runs it; dropped afterwards."""
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} in CI")
        pytest.skip(f"PostgreSQL is not reachable at {PG_ADMIN_URL}")
    if shutil.which("psql") is None:
        pytest.fail("psql (Debian's postgresql-client) is needed to run deploy/postgres-init.sh")
    suffix = uuid.uuid4().hex[:8]
    names = {kind: f"stack_{suffix}_{kind}" for kind in ("rakuten", "mlflow", "dagster")}
    admin = pg_conninfo(PG_ADMIN_URL)
    env = {**os.environ, "POSTGRES_USER": admin.get("user", "postgres"),
           "PGHOST": admin.get("host", "127.0.0.1"), "PGPORT": str(admin.get("port", 5432)),
           "RAKUTEN_DATABASES": " ".join(names.values())}
    try:
        for attempt in (1, 2):  # the second run must find every database and change nothing
            out = subprocess.run(["sh", str(ROOT / "deploy" / "postgres-init.sh")], env=env,
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
            verb = "creating" if attempt == 1 else "exists"
            assert all(f"{verb} database {n}" in out.stdout or f"database {n} {verb}" in out.stdout
                       for n in names.values()), out.stdout
        yield names
    finally:
        pg_execute(PG_ADMIN_URL, *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
                                   for name in names.values()))


@pytest.fixture
def stack_env(tmp_path, stack_databases):
    """The environment every process of the stack gets: PostgreSQL everywhere."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RAKUTEN_", "MLFLOW_", "DAGSTER_", "PROMETHEUS_MULTIPROC"))}
    env.update({
        "RAKUTEN_HOME": str(tmp_path / "home"),
        "RAKUTEN_DATABASE_URL": pg_url(stack_databases["rakuten"]),
        "DAGSTER_HOME": str(dagster_home),
        # psycopg2 named, as deploy/dagster.yaml explains
        "DAGSTER_PG_URL": psycopg2_url(pg_url(stack_databases["dagster"])),
        "DAGSTER_STORAGE_DIR": str(tmp_path / "dagster_storage"),
        "DAGSTER_COMPUTE_LOGS_DIR": str(tmp_path / "dagster_logs"),
        "RAKUTEN_SYNTHETIC_ROWS": "3000",
        "RAKUTEN_INITIAL_SHARE": "0.5",
        "RAKUTEN_F1_FLOOR": "0.3",
        "RAKUTEN_ADMIN_TOKEN": "test-token",
        "PYTHONUNBUFFERED": "1",
    })
    return env


# --- the test -----------------------------------------------------------------------------------

def test_stack_runs_as_processes_on_postgres(tmp_path, stack_databases, stack_env):
    from mlflow import MlflowClient

    processes = Processes(tmp_path)
    cwd = tmp_path / "cwd"  # nothing may land in the checkout, nor beside the processes' files
    cwd.mkdir()
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        # 1. MLflow tracking server: backend store in PostgreSQL, artifacts proxied to a folder.
        #    Its first start migrates the empty database (tens of seconds): ingestion, which
        #    needs only the product store, runs meanwhile.
        mlflow_port = free_port()
        artifacts = tmp_path / "mlartifacts"
        mlflow_proc, mlflow_log = processes.start("mlflow", [
            str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(mlflow_port),
            "--workers", "1", "--backend-store-uri", psycopg2_url(pg_url(stack_databases["mlflow"])),
            "--artifacts-destination", str(artifacts), "--serve-artifacts",
        ], stack_env, cwd)
        tracking_uri = f"http://127.0.0.1:{mlflow_port}"
        env = {**stack_env, "MLFLOW_TRACKING_URI": tracking_uri}

        # 2. Ingest, then the whole pipeline, each a process of its own.
        out = run_cli(["ingest"], env, cwd, timeout=120)
        first = int(re.search(r"total_products=(\d+)", out.stdout).group(1))
        assert first > 1000, out.stdout
        timings["ingest"] = time.monotonic() - started
        wait_until(lambda: httpx.get(f"{tracking_uri}/health", timeout=2).status_code == 200,
                   150, "mlflow server /health", mlflow_proc, mlflow_log)
        timings["mlflow server up"] = time.monotonic() - started
        t0 = time.monotonic()
        out = run_cli(["materialize"], env, cwd, timeout=300)
        assert "SUCCESS" in out.stdout, out.stdout
        timings["materialize"] = time.monotonic() - t0

        # Products in PostgreSQL (the second batch came with the materialisation).
        (count,), = pg_query(stack_databases["rakuten"], "SELECT count(*) FROM products")
        assert count > first, (count, first)
        (batches,), = pg_query(stack_databases["rakuten"], "SELECT count(*) FROM load_batches")
        assert batches == 2
        # The champion in the registry, its artifacts stored by the server in its destination.
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        champion = client.get_model_version_by_alias("rakuten_classifier", "champion")
        run = client.get_run(champion.run_id)
        assert run.data.metrics["test_weighted_f1"] >= 0.3
        assert run.data.tags.get("dagster_run_id"), "the MLflow run is tied to its Dagster run"
        assert any(artifacts.rglob("MLmodel")), f"no model artifacts under {artifacts}"
        (versions,), = pg_query(stack_databases["mlflow"], "SELECT count(*) FROM model_versions")
        assert versions >= 1
        # Dagster's runs and events in PostgreSQL, none in a local SQLite file.
        runs = pg_query(stack_databases["dagster"], "SELECT run_id, status FROM runs")
        assert run.data.tags["dagster_run_id"] in {r[0] for r in runs}
        assert {r[1] for r in runs} == {"SUCCESS"}, runs
        (events,), = pg_query(stack_databases["dagster"], "SELECT count(*) FROM event_logs")
        assert events > 0
        home = Path(stack_env["DAGSTER_HOME"])
        assert not list(home.rglob("*.db")), f"SQLite files in DAGSTER_HOME: {list(home.rglob('*.db'))}"
        status = run_cli(["status"], env, cwd, timeout=60).stdout
        assert f"champion: rakuten_classifier v{champion.version}" in status, status

        # 3. The API, serving the champion; its inference log lands in PostgreSQL.
        t0 = time.monotonic()
        api_port = free_port()
        api_proc, api_log = processes.start("api", [
            str(BIN / "rakuten"), "api", "--host", "127.0.0.1", "--port", str(api_port),
        ], env, cwd)
        base = f"http://127.0.0.1:{api_port}"
        wait_until(lambda: httpx.get(f"{base}/ready", timeout=2).status_code == 200,
                   120, "API /ready (champion loaded)", api_proc, api_log)
        from rakuten_assets.core.synthetic import generate_catalogue

        traffic = generate_catalogue(400, seed=2024)
        items = [{"designation": r.designation,
                  "description": None if r.description != r.description else r.description}
                 for r in traffic.itertuples()]
        served = 0
        with httpx.Client(base_url=base, timeout=30) as http:
            for item in items[:20]:
                response = http.post("/predict", json=item)
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["model_version"] == str(champion.version)
                served += 1
            for start in range(20, len(items), 190):
                batch = items[start:start + 190]
                response = http.post("/predict/batch", json={"items": batch})
                assert response.status_code == 200, response.text
                served += len(batch)
        wait_until(lambda: pg_query(stack_databases["rakuten"],
                                    "SELECT count(*) FROM inference_log")[0][0] >= served,
                   30, f"{served} inference-log rows in PostgreSQL", api_proc, api_log)
        rows = pg_query(stack_databases["rakuten"],
                        "SELECT count(*), count(DISTINCT prediction_id), min(model_version), "
                        "max(model_version) FROM inference_log")
        assert rows[0] == (served, served, str(champion.version), str(champion.version)), rows
        # SIGTERM: uvicorn shuts down gracefully (the inference-log writer flushes), then
        # re-raises the signal, so the exit status is -SIGTERM.
        code = Processes.stop(api_proc)
        assert code in (0, -signal.SIGTERM) and "Application shutdown complete" in api_log.read_text(), \
            f"the API did not stop cleanly (exit {code})\n{tail(api_log)}"
        timings["api + 400 predictions"] = time.monotonic() - t0

        # 4. The drift report over that inference log, as its own Dagster job.
        t0 = time.monotonic()
        result = subprocess.run([str(BIN / "rakuten"), "materialize", "--job", DRIFT_JOB], env=env,
                                cwd=cwd, capture_output=True, text=True, timeout=240)
        assert f"unknown job {DRIFT_JOB!r}" not in result.stdout, (
            f"the code location has no `{DRIFT_JOB}` (materialising the `drift_report` asset); "
            f"`rakuten materialize` says: {result.stdout.strip()}")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        assert "drift_report" in result.stdout, result.stdout
        (reports,), = pg_query(stack_databases["rakuten"], "SELECT count(*) FROM drift_reports")
        assert reports >= 1, "the drift report's summary was not stored in PostgreSQL"
        statuses = pg_query(stack_databases["dagster"], "SELECT status FROM runs")
        assert len(statuses) >= 2 and {s for (s,) in statuses} == {"SUCCESS"}, statuses
        timings["drift report"] = time.monotonic() - t0
    finally:
        processes.stop_all()
        print("timings (s):", {k: round(v, 1) for k, v in timings.items()},
              "total", round(time.monotonic() - started, 1))
