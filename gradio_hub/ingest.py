"""Ingestion from the hub, through the system's one write path: uploads are staged where the
Dagster run's process can read them (RAKUTEN_HOME/uploads, a volume the hub and the Dagster code
server share in compose), `ingest_job` is launched and followed, and its result is said in words.
Staged files are removed once their run has finished (and after a day in any case)."""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from gradio_hub.clients.dagster import DagsterClient, RunInfo
from rakuten_assets.core.settings import Settings

STAGED_MAX_AGE_S = 86_400
INGESTING_JOBS = ("ingest_job", "all_assets_job")  # jobs that write products


@dataclass
class IngestOutcome:
    run: RunInfo
    ok: bool
    message: str


def uploads_dir(settings: Settings) -> Path:
    folder = settings.home_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in folder.iterdir():
        try:
            if now - old.stat().st_mtime > STAGED_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return folder


def stage_uploads(settings: Settings, x_path: str, y_path: str | None) -> tuple[Path, Path, Path | None]:
    """Copies of the uploads in a folder of their own: (folder, product file, label file)."""
    folder = uploads_dir(settings) / uuid.uuid4().hex
    folder.mkdir()
    x = folder / Path(x_path).name
    shutil.copyfile(x_path, x)
    y = None
    if y_path:
        y = folder / Path(y_path).name
        if y == x:
            y = folder / f"labels-{y.name}"
        shutil.copyfile(y_path, y)
    return folder, x, y


def describe_run(dagster: DagsterClient, run: RunInfo) -> IngestOutcome:
    if run.status == "SUCCESS":
        products = dagster.materializations(run.run_id).get("products", {})
        batch = products.get("batch") or "done"
        total = products.get("total_products")
        text = f"Ingested {batch}."
        if total is not None:
            text += f" The store now holds {total} products."
        return IngestOutcome(run, True, text + f" (Dagster run {run.run_id[:8]})")
    if run.status == "FAILURE":
        causes = "; ".join(e.split(": ", 1)[-1] for e in run.errors) or "see the run in the Dagster UI"
        return IngestOutcome(run, False, f"Ingestion failed: {causes} (Dagster run {run.run_id[:8]}); "
                                         "nothing was stored.")
    return IngestOutcome(run, False, f"The ingest_job run {run.run_id[:8]} is still {run.status.lower()}; "
                                     "follow it in the Dagster UI (Training tab lists it).")


def ingest(dagster: DagsterClient, settings: Settings, *, actor: str, x_path: str | None = None,
           y_path: str | None = None, wait_s: float = 120.0) -> IngestOutcome:
    """Run `ingest_job` (the next batch, or the uploaded files) and wait for its result."""
    tags = {"launched_by": f"rakuten-hub:{actor}", "rakuten/trigger": "hub"}
    # One ingestion at a time across hubs and restarts, not only within this process's queue:
    # a run the hub stopped waiting for (after `wait_s`) still runs in Dagster (issue 13 saw two
    # "one at a time" ingests at once).
    running = next((r for r in dagster.runs(limit=50)
                    if r.job in INGESTING_JOBS and not r.finished), None)
    if running is not None:
        return IngestOutcome(running, False, f"An ingestion is already running ({running.job}, "
                                             f"Dagster run {running.run_id[:8]}, {running.status.lower()}): "
                                             "wait for it to finish, then ingest again.")
    if not x_path:
        run_id = dagster.ingest(tags=tags)
        return describe_run(dagster, dagster.wait(run_id, wait_s))
    folder, x, y = stage_uploads(settings, x_path, y_path)
    try:
        run_id = dagster.ingest(tags=tags, x_path=str(x), y_path=str(y) if y else None)
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    run = dagster.wait(run_id, wait_s)
    if run.finished:
        shutil.rmtree(folder, ignore_errors=True)
    return describe_run(dagster, run)
