"""Dataset tab: load batches, class distribution, sample rows (text, never rendered) and ingestion."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from gradio_hub.auth import NotAllowed
from gradio_hub.common import TabHandles, describe_error, notice
from gradio_hub.context import HubContext
from gradio_hub.ingest import ingest

PAGE = 20
SAMPLE_TYPES = ["number", "str", "str", "number", "str", "number"]
BATCH_TYPES = ["number", "str", "str", "number", "number", "number", "str"]


def build(ctx: HubContext, session_user: gr.State) -> TabHandles:
    gr.Markdown("What the product store holds: every load batch, the classes, and the rows "
                "themselves. Descriptions are HTML in the source data; here they are shown as text.")
    refresh_btn = gr.Button("Refresh", size="sm", elem_id="dataset-refresh")
    summary = gr.HTML(elem_id="dataset-summary")
    with gr.Row():
        batches_plot = gr.BarPlot(x="batch", y="accepted", title="Rows accepted per load batch",
                                  y_lim=[0, None], height=360, elem_id="dataset-batches-plot")
        classes_plot = gr.BarPlot(x="category", y="rows", title="Class distribution",
                                  x_label_angle=-60, height=360, sort="-y", elem_id="dataset-classes-plot")
    batches = gr.DataFrame(label="Load batches", datatype=BATCH_TYPES, interactive=False, wrap=True,
                           max_height=300, elem_id="dataset-batches")

    gr.Markdown("### Sample rows")
    with gr.Row():
        page = gr.Number(value=1, minimum=1, precision=0, label="Page", elem_id="dataset-page", scale=1)
        prev_btn = gr.Button("◀ Previous", size="sm", scale=0)
        next_btn = gr.Button("Next ▶", size="sm", scale=0)
    sample = gr.DataFrame(datatype=SAMPLE_TYPES, interactive=False, wrap=True, max_height=520,
                          column_widths=["9%", "27%", "42%", "7%", "10%", "5%"], elem_id="dataset-sample")

    gr.Markdown("### Ingest")
    with gr.Row():
        with gr.Column():
            ingest_btn = gr.Button("Ingest the next batch of the source", variant="primary",
                                   elem_id="ingest-next")
        with gr.Column():
            x_file = gr.File(label="Official product file (X_train_update.csv format)", file_types=[".csv"],
                             type="filepath")
            y_file = gr.File(label="Official label file (Y_train_CVw08PX.csv format)", file_types=[".csv"],
                             type="filepath")
            files_btn = gr.Button("Ingest the uploaded files", elem_id="ingest-files")
    ingest_msg = gr.HTML(elem_id="ingest-message")

    def overview():
        try:
            counts = ctx.store.counts()
            frame = ctx.store.batches()
            classes = ctx.store.class_distribution()
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error"), None, None, None
        text = (f"{counts['products']} products in {counts['batches']} load batches, "
                f"{len(classes)} classes; {counts['predictions']} predictions logged. "
                f"Source: {'official CSVs in ' + str(ctx.settings.data_dir) if ctx.settings.data_dir else 'the synthetic catalogue'}.")
        plot_frame = pd.DataFrame({"batch": "batch " + frame["batch"].astype(str),
                                   "accepted": frame["accepted"]})
        return notice(text, "info"), plot_frame, classes[["category", "rows"]], frame

    def rows(page_number):
        number = max(1, int(page_number or 1))
        try:
            return number, ctx.store.sample(PAGE, (number - 1) * PAGE)
        except Exception as exc:  # noqa: BLE001
            return number, pd.DataFrame({"problem": [describe_error(exc)]})

    def refresh(page_number=1):
        return (*overview(), *rows(page_number))

    outputs = [summary, batches_plot, classes_plot, batches, page, sample]
    refresh_btn.click(refresh, [page], outputs, api_visibility="private")
    page.submit(rows, [page], [page, sample], api_visibility="private")
    prev_btn.click(lambda p: rows(max(1, int(p or 1) - 1)), [page], [page, sample], api_visibility="private")
    next_btn.click(lambda p: rows(int(p or 1) + 1), [page], [page, sample], api_visibility="private")

    def run_ingest(user, request: gr.Request, progress, x_path=None, y_path=None):
        try:
            who = ctx.gate.require(user, request, "ingestion")
            progress(0.1, desc="Running ingest_job in Dagster (validation, then the store)")
            outcome = ingest(ctx.dagster, ctx.settings, actor=who, x_path=x_path, y_path=y_path)
        except NotAllowed as exc:
            return notice(exc.user_message(), "warn")
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error")
        return notice(f"{outcome.message} By {who}.", "ok" if outcome.ok else "error")

    def ingest_next(user, request: gr.Request, progress=gr.Progress()):
        return run_ingest(user, request, progress)

    def ingest_files(user, x_path, y_path, request: gr.Request, progress=gr.Progress()):
        if not x_path:
            return notice("Upload the product file first (the label file is optional when the "
                          "product file has a prdtypecode column).", "warn")
        return run_ingest(user, request, progress, x_path, y_path)

    ingest_btn.click(ingest_next, [session_user], [ingest_msg], concurrency_limit=1,
                     concurrency_id="control", api_visibility="private").then(
        refresh, [page], outputs, api_visibility="private")
    files_btn.click(ingest_files, [session_user, x_file, y_file], [ingest_msg], concurrency_limit=1,
                    concurrency_id="control", api_visibility="private").then(
        refresh, [page], outputs, api_visibility="private")
    return TabHandles(refresh, [page], outputs)
