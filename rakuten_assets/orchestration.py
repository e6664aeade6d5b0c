"""Running the Dagster code location from the command line: an in-process job run with a
readable summary, and the long-running Dagster processes `rakuten up` supervises."""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable

from rakuten_assets.settings import Settings

# Metadata worth a line in the terminal; everything else stays in the Dagster UI.
_SUMMARY_KEYS = ("batch", "total_products", "dataset_version", "rows", "n_features", "model_version",
                 "weighted_f1", "macro_f1", "champion_weighted_f1_same_test", "decision", "reason")


def _short(value) -> str:
    raw = getattr(value, "value", value)
    text = f"{raw:.4f}" if isinstance(raw, float) else str(raw)
    return text if len(text) <= 140 else text[:137] + "..."


def run_job_in_process(job_name: str, echo: Callable[[str], None] = print) -> bool:
    from dagster import DagsterEventType, DagsterInstance

    from rakuten_assets.definitions import defs

    try:
        job = defs.resolve_job_def(job_name)
    except Exception:  # noqa: BLE001 - an unknown name is a user error, listed below
        names = sorted(j.name for j in defs.resolve_all_job_defs() if not j.name.startswith("__"))
        echo(f"unknown job {job_name!r}; jobs: {', '.join(names)}")
        return False
    with DagsterInstance.get() as instance:
        # INFO, not DEBUG: the terminal gets the assets' own messages; every event stays in the
        # Dagster UI.
        result = job.execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}})
        echo(f"Dagster run {result.run_id} ({job_name}): {'SUCCESS' if result.success else 'FAILURE'}")
        for event in result.all_events:
            kind = event.event_type
            if kind == DagsterEventType.ASSET_MATERIALIZATION:
                mat = event.event_specific_data.materialization
                details = ", ".join(f"{k}={_short(v)}" for k, v in mat.metadata.items() if k in _SUMMARY_KEYS)
                echo(f"  materialised {mat.asset_key.to_user_string()}: {details}")
            elif kind == DagsterEventType.ASSET_CHECK_EVALUATION:
                ev = event.event_specific_data
                echo(f"  check {ev.asset_key.to_user_string()}:{ev.check_name}: "
                     f"{'passed' if ev.passed else 'FAILED'}")
            elif kind == DagsterEventType.STEP_FAILURE:
                error = event.event_specific_data.error
                cause = error.cause.message.strip() if error and error.cause else ""
                echo(f"  step {event.step_key} FAILED: {error.message.strip() if error else ''} {cause}".rstrip())
        return bool(result.success)


def ensure_champion(echo: Callable[[str], None] = print) -> bool:
    """Materialise everything once when no model is promoted yet (a fresh embedded default)."""
    from rakuten_assets.registry import ModelRegistry
    from rakuten_assets.settings import get_settings

    if ModelRegistry(get_settings()).champion() is not None:
        return True
    echo("no champion model yet: materialising the pipeline once (this takes a minute)")
    return run_job_in_process("all_assets_job", echo=echo)


def service_processes(settings: Settings) -> list[tuple[str, str]]:
    """(name, command) of every long-running process of the embedded stack."""
    from pathlib import Path

    from rakuten_assets.registry import is_local_store

    bin_dir = Path(sys.executable).parent
    q = shlex.quote
    # The workspace file names the code location `rakuten`, which the hub's GraphQL calls use.
    target = f"-w {q(str(Path(__file__).resolve().parents[1] / 'workspace.yaml'))}"
    processes = [
        ("dagster-web", f"{q(str(bin_dir / 'dagster-webserver'))} {target} -h {settings.api_host} "
                        f"-p {settings.dagster_port}"),
        ("dagster-daemon", f"{q(str(bin_dir / 'dagster-daemon'))} run {target}"),
        ("api", f"{q(str(bin_dir / 'rakuten'))} api"),
        ("hub", f"{q(str(bin_dir / 'rakuten'))} hub"),
    ]
    prometheus = shutil.which("prometheus")
    local_config = Path(__file__).resolve().parents[1] / "monitoring" / "prometheus.local.yml"
    if prometheus and local_config.is_file():
        # Optional on the embedded default: started when Debian's prometheus is installed
        # (`make test` installs it), so the alert rules run beside the API.
        processes.append(("prometheus", f"{q(prometheus)} --config.file={q(str(local_config))} "
                                        f"--storage.tsdb.path={q(str(settings.home_dir / 'prometheus'))} "
                                        "--web.listen-address=127.0.0.1:9090 --log.level=warn"))
    if is_local_store(settings.tracking_uri):
        # The store is a local SQLite file every process opens directly; this server is the UI.
        processes.append(("mlflow-ui", f"{q(str(bin_dir / 'mlflow'))} server --backend-store-uri "
                                       f"{q(settings.tracking_uri)} --default-artifact-root "
                                       f"{q(settings.artifact_root.as_uri())} --host 127.0.0.1 --port 5000"))
    return processes


def service_urls(settings: Settings) -> list[tuple[str, str]]:
    host = settings.api_host
    urls = [("hub", f"http://{settings.hub_host}:{settings.hub_port}"),
            ("API docs", f"http://{host}:{settings.api_port}/docs"),
            ("Dagster UI", f"http://{host}:{settings.dagster_port}")]
    if settings.mlflow_ui_url:
        urls.append(("MLflow UI", settings.mlflow_ui_url))
    if shutil.which("prometheus") and settings.prometheus_url:
        urls.append(("Prometheus", settings.prometheus_url))
    return urls
