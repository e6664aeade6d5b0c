"""`rakuten`: the command line for everything a user runs by hand.

Heavy imports (Dagster, MLflow, sklearn) happen inside the commands, so `rakuten --help`
answers at once and a bad setting is reported before anything slow starts.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

# Dagster flags dagster-mlflow as beta on import; users cannot act on that, so keep it quiet.
warnings.filterwarnings("ignore", message=r".*is currently in beta.*")

app = typer.Typer(help="Rakuten product classifier: data, training, serving and monitoring.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def load_settings():
    """Settings, or a readable error instead of a pydantic traceback."""
    from pydantic import ValidationError

    from rakuten_assets.settings import get_settings
    try:
        return get_settings()
    except ValidationError as exc:
        lines = [f"  RAKUTEN_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()]
        _fail("invalid configuration:\n" + "\n".join(lines))


DAGSTER_YAML_EMBEDDED = """\
# Embedded default, written by `rakuten`: SQLite storage in this folder.
telemetry:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 1
"""


def prepare_dagster_home(settings) -> Path:
    """DAGSTER_HOME for every Dagster process we start; a dagster.yaml is written only when the
    folder has none, so a production one (PostgreSQL storage) is never overwritten."""
    settings.ensure_dirs()
    home = settings.dagster_home_dir
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML_EMBEDDED)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@app.command()
def ingest(
    x: Annotated[Optional[Path], typer.Option("--x", help="Official-format product CSV (X_train_update.csv).")] = None,
    y: Annotated[Optional[Path], typer.Option("--y", help="Official-format label CSV (Y_train_CVw08PX.csv).")] = None,
) -> None:
    """Ingest the next batch of the configured source, or the official CSVs given with --x/--y.

    Rejected rows are counted with their reason; a batch that was already loaded inserts nothing.
    """
    from rakuten_assets.sources import SourceError, ingest_files, ingest_next, source_from_settings
    from rakuten_assets.store import ProductStore

    settings = load_settings()
    settings.ensure_dirs()
    if y is not None and x is None:
        _fail("--y needs --x (the product file the labels belong to)")
    try:
        store = ProductStore(settings.db_url)
        if x is not None:
            result = ingest_files(store, x, y)
        else:
            result = ingest_next(store, source_from_settings(settings), settings)
    except SourceError as exc:
        _fail(str(exc))
    if result is None:
        typer.echo("the source is exhausted: no new rows")
    else:
        typer.echo(result.summary())
    typer.echo(f"products in the store: {store.count_products()}")


@app.command()
def materialize(
    job: Annotated[str, typer.Option(help="Dagster job to run: all_assets_job (ingest + train) or training_job.")] = "all_assets_job",
) -> None:
    """Materialise every asset in-process (ingest the next batch, train, evaluate, promote), print
    a summary and exit non-zero on failure. The run shows in the Dagster UI like any other."""
    settings = load_settings()
    prepare_dagster_home(settings)
    from rakuten_assets.orchestration import run_job_in_process
    ok = run_job_in_process(job, echo=typer.echo)
    raise typer.Exit(0 if ok else 1)


@app.command()
def status() -> None:
    """Products in the store, load batches and the champion model."""
    from rakuten_assets.registry import ModelRegistry
    from rakuten_assets.store import ProductStore

    settings = load_settings()
    store = ProductStore(settings.db_url)
    typer.echo(f"store: {settings.db_url} ({store.count_products()} products, "
               f"{len(store.batches())} batches, {store.count_inference_rows()} logged predictions)")
    registry = ModelRegistry(settings)
    champion = registry.champion()
    typer.echo(f"mlflow: {settings.tracking_uri}")
    if champion is None:
        typer.echo(f"no {settings.model_name}@{settings.champion_alias} yet: run `rakuten materialize`")
    else:
        metrics = registry.run_metrics(champion.run_id)
        typer.echo(f"champion: {settings.model_name} v{champion.version} "
                   f"(weighted F1 {metrics.get('test_weighted_f1', float('nan')):.4f})")


@app.command()
def api(
    host: Annotated[Optional[str], typer.Option(help="Interface to bind (default RAKUTEN_API_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default RAKUTEN_API_PORT, 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (metrics aggregated across them).")] = 1,
) -> None:
    """Serve rakuten_classifier@champion over HTTP (FastAPI): /predict, /predict/batch, /health,
    /ready, /model, /metrics, /docs. Starts even when MLflow is unreachable and recovers."""
    settings = load_settings()
    settings.ensure_dirs()
    from api.server import serve
    serve(host or settings.api_host, port or settings.api_port, workers=workers)


@app.command()
def hub(
    host: Annotated[Optional[str], typer.Option(help="Interface to bind (default RAKUTEN_HUB_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default RAKUTEN_HUB_PORT, 7860).")] = None,
    root_path: Annotated[Optional[str], typer.Option(help="Sub-path behind a reverse proxy, e.g. /hub.")] = None,
) -> None:
    """Start the Gradio control hub: overview, predictions, dataset, training and monitoring tabs."""
    settings = load_settings()
    settings.ensure_dirs()
    from gradio_hub.app import launch
    launch(host or settings.hub_host, port or settings.hub_port, root_path=root_path)


@app.command()
def up(
    skip_bootstrap: Annotated[bool, typer.Option(help="Do not materialise first even when there is no champion.")] = False,
) -> None:
    """What `make run` starts: materialise the pipeline when there is no champion yet, then run the
    Dagster webserver and daemon (sensors and schedules) until Ctrl-C."""
    settings = load_settings()
    prepare_dagster_home(settings)
    from rakuten_assets.orchestration import ensure_champion, service_processes, service_urls
    if not skip_bootstrap and not ensure_champion(echo=typer.echo):
        _fail("the first pipeline run failed; see the summary above", code=1)
    from honcho.manager import Manager

    manager = Manager()
    for name, command in service_processes(settings):
        manager.add_process(name, command, env=dict(os.environ))
    for name, url in service_urls(settings):
        typer.echo(f"{name:<12} {url}")
    typer.echo("Ctrl-C stops everything")
    manager.loop()
    sys.exit(manager.returncode)


if __name__ == "__main__":
    app()
