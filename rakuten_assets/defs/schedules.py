"""Schedules: the periodic drift report, and demo ingestion (off by default)."""

import dagster as dg

from rakuten_assets.core.settings import Settings
from rakuten_assets.defs.jobs import drift_job, ingest_job


def build_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    """Cron expressions come from the settings of the process that loads the code location."""
    return [
        dg.ScheduleDefinition(name="drift_report_schedule", job=drift_job, cron_schedule=settings.drift_cron,
                              default_status=dg.DefaultScheduleStatus.RUNNING,
                              description="Materialises drift_report (RAKUTEN_DRIFT_CRON)."),
        dg.ScheduleDefinition(name="ingest_schedule", job=ingest_job, cron_schedule=settings.ingest_cron,
                              default_status=dg.DefaultScheduleStatus.STOPPED,
                              description="Ingests the next data batch (RAKUTEN_INGEST_CRON); off by "
                                          "default, for demos."),
    ]
