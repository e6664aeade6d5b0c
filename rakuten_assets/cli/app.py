"""`rakuten`: the command line for everything a user runs by hand.

Heavy imports (Dagster, MLflow, sklearn) happen inside the commands, so `rakuten --help`
answers at once and a bad setting is reported before anything slow starts. Writes take the
system's one path: ingestion runs Dagster's `ingest_job`, alias moves go through
`core.promotion.move_champion` and are reported to Dagster as `promoted_model` events.
"""

from __future__ import annotations

import getpass
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

    from rakuten_assets.core.settings import get_settings
    try:
        return get_settings()
    except ValidationError as exc:
        lines = [f"RAKUTEN_{'_'.join(map(str, e['loc'])).upper()}: {e['msg'].removeprefix('Value error, ')}"
                 for e in exc.errors()]
        # One problem, one line (what `docker compose logs` shows of a refused container).
        _fail("invalid configuration: " + lines[0] if len(lines) == 1
              else "invalid configuration:\n" + "\n".join("  " + line for line in lines))


def _dagster_home(settings) -> Path:
    """DAGSTER_HOME ready for a run, or a one-line error naming what is missing."""
    from rakuten_assets.cli.services import DagsterHomeError, prepare_dagster_home

    try:
        return prepare_dagster_home(settings)
    except DagsterHomeError as exc:
        _fail(str(exc))


def _migrate(settings) -> str | None:
    """The store's schema at the newest revision, or a one-line error."""
    from sqlalchemy.exc import SQLAlchemyError

    from rakuten_assets.core.migrations import upgrade_schema
    from rakuten_assets.core.store import make_engine

    engine = make_engine(settings.db_url)
    try:
        return upgrade_schema(engine)
    except SQLAlchemyError as exc:
        _fail(f"cannot migrate the store at {engine.url.render_as_string(hide_password=True)}: "
              f"{str(getattr(exc, 'orig', exc)).strip().splitlines()[0]}")
    finally:
        engine.dispose()


@app.command()
def migrate() -> None:
    """Bring the product store's schema to the newest Alembic revision (also done on every start)."""
    settings = load_settings()
    settings.ensure_dirs()
    typer.echo(f"store schema at revision {_migrate(settings)}")


@app.command()
def ingest(
    x: Annotated[Optional[Path], typer.Option("--x", help="Official-format product CSV (X_train_update.csv).")] = None,
    y: Annotated[Optional[Path], typer.Option("--y", help="Official-format label CSV (Y_train_CVw08PX.csv).")] = None,
) -> None:
    """Ingest the next batch of the configured source, or the official CSVs given with --x/--y,
    as a run of Dagster's ingest_job.

    Rejected rows are counted with their reason; a batch that was already loaded inserts nothing.
    """
    from rakuten_assets.cli.runs import run_job_in_process

    settings = load_settings()
    if y is not None and x is None:
        _fail("--y needs --x (the product file the labels belong to)")
    for path in (x, y):
        if path is not None and not path.is_file():
            _fail(f"file not found: {path}")
    _dagster_home(settings)
    _migrate(settings)
    config = {}
    if x is not None:
        config = {"ops": {"products": {"config": {
            "x_path": str(x.resolve()), "y_path": str(y.resolve()) if y is not None else None}}}}
    ok = run_job_in_process("ingest_job", echo=typer.echo, run_config=config,
                            tags={"rakuten/trigger": "cli"})
    raise typer.Exit(0 if ok else 1)


@app.command()
def materialize(
    job: Annotated[str, typer.Option(help="Dagster job to run: all_assets_job (ingest + train), "
                                          "training_job, ingest_job or drift_job.")] = "all_assets_job",
) -> None:
    """Materialise every asset in-process (ingest the next batch, train, evaluate, promote), print
    a summary and exit non-zero on failure. The run shows in the Dagster UI like any other."""
    from rakuten_assets.cli.runs import run_job_in_process

    settings = load_settings()
    _dagster_home(settings)
    _migrate(settings)
    ok = run_job_in_process(job, echo=typer.echo, tags={"rakuten/trigger": "cli"})
    raise typer.Exit(0 if ok else 1)


@app.command()
def status() -> None:
    """Products in the store, load batches and the champion model."""
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.core.store import ProductStore

    settings = load_settings()
    _migrate(settings)
    store = ProductStore(settings.db_url)
    typer.echo(f"store: {settings.db_url} ({store.count_products()} products, "
               f"{store.count_batches()} batches, {store.count_inference_rows()} logged predictions)")
    registry = ModelRegistry(settings)
    champion = registry.champion()
    typer.echo(f"mlflow: {settings.tracking_uri}")
    if champion is None:
        typer.echo(f"no {settings.model_name}@{settings.champion_alias} yet: run `rakuten materialize`")
    else:
        metrics = registry.run_metrics(champion.run_id)
        typer.echo(f"champion: {settings.model_name} v{champion.version} "
                   f"(weighted F1 {metrics.get('test_weighted_f1', float('nan')):.4f})")


def _move(version: str | None, reason: str, *, rollback: bool) -> None:
    from mlflow.exceptions import MlflowException

    from rakuten_assets.cli.runs import report_champion_move
    from rakuten_assets.core.promotion import (
        MOVE_BY_PERSON,
        MOVE_ROLLBACK,
        move_champion,
        rollback_target,
    )
    from rakuten_assets.core.registry import ModelRegistry
    from rakuten_assets.core.store import ProductStore

    settings = load_settings()
    _dagster_home(settings)
    _migrate(settings)
    store = ProductStore(settings.db_url)
    registry = ModelRegistry(settings)
    actor = f"cli:{getpass.getuser()}"
    if rollback:
        current, version = rollback_target(registry, store)
        if version is None:
            _fail("nothing to roll back to: no recorded move of the alias has a previous champion")
    kind = MOVE_ROLLBACK if rollback else MOVE_BY_PERSON
    try:
        moved = move_champion(registry, store, version, kind=kind, actor=actor, reason=reason)
    except MlflowException as exc:
        _fail(f"cannot move {settings.model_name}@{settings.champion_alias} to version {version}: "
              f"{str(exc).splitlines()[0]}")
    report_champion_move(before=moved.from_version, after=moved.to_version, kind=kind, actor=actor,
                         reason=reason)
    typer.echo(f"{settings.model_name}@{settings.champion_alias}: version {moved.from_version or 'none'} "
               f"-> {moved.to_version} ({kind} by {actor}: {reason})")


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help="Registered version to serve.")],
    reason: Annotated[str, typer.Option(help="Why; kept in the audit trail of champion moves.")],
) -> None:
    """Make VERSION the champion (the API swaps it in at its next poll); the move is recorded."""
    _move(version, reason, rollback=False)


@app.command()
def rollback(
    reason: Annotated[str, typer.Option(help="Why; kept in the audit trail of champion moves.")],
) -> None:
    """Return the alias to the champion before the latest move, whoever made it."""
    _move(None, reason, rollback=True)


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
    _migrate(settings)
    from api.main import serve
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
    _migrate(settings)
    from gradio_hub.app import launch
    launch(host or settings.hub_host, port or settings.hub_port, root_path=root_path)


@app.command()
def up(
    skip_bootstrap: Annotated[bool, typer.Option(help="Do not materialise first even when there is no champion.")] = False,
) -> None:
    """What `make run` starts: materialise the pipeline when there is no champion yet, then run the
    Dagster webserver and daemon (sensors and schedules), the API, the hub, the MLflow UI and
    Prometheus (when installed) until Ctrl-C."""
    from rakuten_assets.cli.runs import ensure_champion
    from rakuten_assets.cli.services import service_processes, service_urls

    settings = load_settings()
    _dagster_home(settings)
    _migrate(settings)
    if not skip_bootstrap and not ensure_champion(echo=typer.echo):
        _fail("the first pipeline run failed; see the summary above", code=1)
    from honcho.manager import Manager

    from rakuten_assets.cli.services import ServiceRecorder

    processes = service_processes(settings)
    manager = Manager(printer=ServiceRecorder(settings, dict(processes)))
    for name, command in processes:
        # exec: the shell honcho starts becomes the program, so the recorded pid is the service's
        manager.add_process(name, f"exec {command}", env=dict(os.environ))
    for name, url in service_urls(settings):
        typer.echo(f"{name:<12} {url}")
    typer.echo(f"logs in {settings.home_dir / 'logs'}; Ctrl-C stops everything")
    manager.loop()
    sys.exit(manager.returncode)


if __name__ == "__main__":
    app()
