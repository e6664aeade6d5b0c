"""The `products` asset: rows entering the product store. Every ingestion goes through it (the
schedule, the hub's buttons and `rakuten ingest` all run `ingest_job`), so the asset's history
in Dagster is the history of what arrived, with what was rejected and why."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from rakuten_assets.core.sources import (
    SourceError,
    ingest_files,
    ingest_next,
    source_from_settings,
)
from rakuten_assets.defs.constants import INGESTION_GROUP, PRODUCTS
from rakuten_assets.defs.resources import ProductStoreResource, SettingsResource


class IngestConfig(dg.Config):
    """Empty: the next batch of the configured source. With `x_path`: that official-format product
    file (and its label file), loaded whole as one batch."""

    x_path: str | None = Field(None, description="Official-format product CSV (X_train_update.csv) "
                               "readable by the process that runs the step.")
    y_path: str | None = Field(None, description="Its label CSV (Y_train_CVw08PX.csv); optional when "
                               "the product file has a prdtypecode column.")


@dg.asset(key=PRODUCTS, group_name=INGESTION_GROUP, kinds={"sqlalchemy"},
          description="Product rows in the store: each materialisation ingests the next batch of the "
                      "configured source (official CSVs or the synthetic catalogue), or the files the "
                      "run configuration names.")
def products(context: dg.AssetExecutionContext, config: IngestConfig, project_settings: SettingsResource,
             store: ProductStoreResource) -> dg.MaterializeResult:
    settings = project_settings.load()
    if config.y_path and not config.x_path:
        raise dg.Failure("y_path needs x_path (the product file the labels belong to)")
    with store.open() as db:
        try:
            if config.x_path:
                result = ingest_files(db, Path(config.x_path), Path(config.y_path) if config.y_path else None)
            else:
                result = ingest_next(db, source_from_settings(settings), settings)
        except SourceError as exc:
            # The user's words, not a traceback: the file or the source cannot be read at all.
            raise dg.Failure(str(exc), allow_retries=False) from None
        total = db.count_products()
        batches_loaded = db.count_batches()
    if result is None:
        context.log.info("the source is exhausted: no new batch")
        summary, rejections, accepted = "source exhausted: no new rows", {}, 0
    else:
        context.log.info(result.summary())
        summary, rejections, accepted = result.summary(), result.rejections, result.rows_accepted
    return dg.MaterializeResult(metadata={
        "total_products": total,
        "rows_added": accepted,
        "rows_rejected": sum(rejections.values()),
        "rejections": dg.MetadataValue.json(rejections),
        "batch": summary,
        "batches_loaded": batches_loaded,
        "source": "uploaded files" if config.x_path else "configured source",
    })
