"""Every asset materialised on a synthetic catalogue of the full challenge size (84,916 rows by
default): wall time per asset and peak memory of the process.

    .venv/bin/python benchmarks/pipeline.py [--rows 84916] [--keep HOME]

Runs in a fresh temporary RAKUTEN_HOME with the whole catalogue in the first batch, in-process
(Dagster's in-process executor), so the peak RSS of this process is the pipeline's peak.
Target (issue 2): ingestion to promoted model under 2 minutes on 2 cores, under 4 GB peak.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def step_durations(instance, run_id: str) -> dict[str, float]:
    """Seconds per step of one Dagster run, in start order, from its event log."""
    from dagster import DagsterEventType

    starts, ends = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ends[event.step_key] = record.timestamp
    return {k: ends.get(k, float("nan")) - starts[k] for k in sorted(starts, key=starts.get)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=84_916)
    parser.add_argument("--keep", type=Path, default=None, help="use (and keep) this RAKUTEN_HOME")
    args = parser.parse_args()

    home = args.keep or Path(tempfile.mkdtemp(prefix="rakuten-bench-"))
    os.environ.update({"RAKUTEN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
                       "RAKUTEN_SYNTHETIC_ROWS": str(args.rows), "RAKUTEN_INITIAL_SHARE": "1.0"})
    for key in ("RAKUTEN_DATABASE_URL", "MLFLOW_TRACKING_URI", "RAKUTEN_DATA_DIR"):
        os.environ.pop(key, None)
    from dagster import DagsterInstance

    from rakuten_assets.cli.services import prepare_dagster_home
    from rakuten_assets.definitions import defs
    from rakuten_assets.core.settings import get_settings

    prepare_dagster_home(get_settings())
    job = defs().resolve_job_def("all_assets_job")
    started = time.perf_counter()
    with DagsterInstance.get() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        wall = time.perf_counter() - started
        steps = step_durations(instance, result.run_id)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {args.rows:,}   RAKUTEN_HOME: {home}   cpus: {os.cpu_count()}")
    print(f"{'step':<40} {'seconds':>8}")
    for step, seconds in steps.items():
        print(f"{step:<40} {seconds:>8.1f}")
    print(f"{'total wall time (ingest -> promoted)':<40} {wall:>8.1f}")
    print(f"peak RSS: {peak_mb:,.0f} MB")
    print(f"result: {'SUCCESS' if result.success else 'FAILURE'}; targets: < 120 s "
          f"({'met' if wall < 120 else 'NOT met'}), < 4096 MB ({'met' if peak_mb < 4096 else 'NOT met'})")
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main())
