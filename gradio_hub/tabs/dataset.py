"""Dataset tab: load batches, class distribution, sample rows (text, never rendered) and ingestion."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from gradio_hub.auth import NotAllowed
from gradio_hub.common import TabHandles, describe_error, notice
from gradio_hub.context import HubContext
from gradio_hub.ingest import ingest

PAGE = 20
ALL_CLASSES = "all classes"


def class_code(choice) -> int | None:
    """The prdtypecode of a class choice ("2583 Piscine…"), None for all classes."""
    head = str(choice or "").split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def page_request(raw) -> tuple[int | None, str]:
    """The page asked for, or None with why it cannot be one."""
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None, "The page must be a whole number."
    if number != number or number != int(number):
        return None, "The page must be a whole number."
    return int(number), ""
SAMPLE_TYPES = ["number", "str", "str", "number", "str", "number"]
BATCH_TYPES = ["number", "str", "str", "number", "number", "number", "str"]


def missing_labels(x_path: str) -> str:
    """Why a product file uploaded alone cannot be ingested, or "" when it can (its header has a
    prdtypecode column). Only the file's own name is said: never the server's temporary path."""
    from pathlib import Path

    name = Path(x_path).name
    try:
        header = pd.read_csv(x_path, nrows=0).columns
    except Exception:  # noqa: BLE001 - unreadable: the ingestion run says why, in its words
        return ""
    if "prdtypecode" in header:
        return ""
    return (f"{name} has no prdtypecode column, so its labels must come from a label file: upload "
            "the matching label file (Y_train_CVw08PX.csv format) as well, then press “Ingest the "
            "uploaded files” again. Nothing was ingested.")


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

    gr.Markdown("### Ingest")
    with gr.Row():
        x_file = gr.File(label="Official product file (X_train_update.csv format)", file_types=[".csv"],
                         type="filepath", elem_id="ingest-x-file")
        y_file = gr.File(label="Official label file (Y_train_CVw08PX.csv format)", file_types=[".csv"],
                         type="filepath", elem_id="ingest-y-file")
    with gr.Row(elem_id="ingest-buttons"):
        ingest_btn = gr.Button("Ingest the next batch of the source", variant="primary",
                               elem_id="ingest-next")
        files_btn = gr.Button("Ingest the uploaded files", elem_id="ingest-files")
    # Right under the buttons: the answer shows where the eye is when the button was pressed.
    ingest_msg = gr.HTML(elem_id="ingest-message")

    gr.Markdown("### Sample rows\nTitles and descriptions are shown as text: HTML entities decoded, "
                "tags dropped (line breaks kept), nothing rendered.")
    with gr.Row():
        search = gr.Textbox(label="Search title and description", placeholder="e.g. piscine",
                            elem_id="dataset-search", scale=3)
        klass = gr.Dropdown(label="Class", choices=[ALL_CLASSES], value=ALL_CLASSES,
                            elem_id="dataset-class", scale=3)
        page = gr.Number(value=1, precision=0, label="Page", elem_id="dataset-page", scale=1)
        prev_btn = gr.Button("◀ Previous", size="sm", scale=0, elem_id="dataset-prev")
        next_btn = gr.Button("Next ▶", size="sm", scale=0, elem_id="dataset-next")
    page_msg = gr.HTML(elem_id="dataset-page-info")
    sample = gr.DataFrame(datatype=SAMPLE_TYPES, interactive=False, wrap=True, max_height=520,
                          column_widths=["9%", "27%", "42%", "7%", "10%", "5%"], elem_id="dataset-sample")

    def overview():
        try:
            counts = ctx.store.counts()
            frame = ctx.store.batches()
            classes = ctx.store.class_distribution()
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error"), None, None, None, gr.skip()
        text = (f"{counts['products']} products in {counts['batches']} load batches, "
                f"{len(classes)} classes; {counts['predictions']} predictions logged. "
                f"Source: {'official CSVs in ' + str(ctx.settings.data_dir) if ctx.settings.data_dir else 'the synthetic catalogue'}.")
        plot_frame = pd.DataFrame({"batch": "batch " + frame["batch"].astype(str),
                                   "accepted": frame["accepted"]})
        choices = [ALL_CLASSES] + [f"{code} {name}" for code, name in zip(classes["prdtypecode"], classes["name"])]
        return (notice(text, "info"), plot_frame, classes[["category", "rows"]], frame,
                gr.update(choices=choices))

    def rows(page_number, term="", choice=ALL_CLASSES):
        """The page asked for, with a sentence when it is not one: the table never goes blank
        for a page out of range, it shows the nearest page and says so."""
        number, problem = page_request(page_number)
        code = class_code(choice)
        try:
            total, _ = ctx.store.products_page(0, 0, search=term, prdtypecode=code)
            pages = max(1, -(-total // PAGE))
            if number is None:
                number, problem = 1, problem + " Showing page 1."
            elif number < 1:
                problem = f"Pages start at 1 (you asked for page {number}): showing page 1."
                number = 1
            elif number > pages:
                problem = (f"There {'is' if pages == 1 else 'are'} only {pages} page{'s' if pages > 1 else ''}"
                           f" (you asked for page {number}): showing page {pages}.")
                number = pages
            _, frame = ctx.store.products_page(PAGE, (number - 1) * PAGE, search=term, prdtypecode=code)
        except Exception as exc:  # noqa: BLE001
            return gr.skip(), notice(describe_error(exc), "error"), gr.skip()
        what = []
        if (term or "").strip():
            what.append(f"matching “{term.strip()}”")
        if code is not None:
            what.append(f"of class {choice}")
        scope = " ".join(what)
        if total == 0:
            info = notice(f"No product {scope or 'in the store yet'}.", "warn")
        else:
            first = (number - 1) * PAGE + 1
            info = notice(f"Page {number} of {pages}: rows {first}–{min(total, first + PAGE - 1)} of "
                          f"{total} products{' ' + scope if scope else ''}.", "info")
        if problem:
            info = notice(problem, "warn") + info
        return number, info, frame

    def refresh(page_number=1, term="", choice=ALL_CLASSES):
        return (*overview(), *rows(page_number, term, choice))

    def step(delta):
        def go(page_number, term, choice):
            number, _ = page_request(page_number)
            return rows((number or 1) + delta, term, choice)
        return go

    def first_page(term, choice):
        return rows(1, term, choice)

    filters = [page, search, klass]
    page_outputs = [page, page_msg, sample]
    outputs = [summary, batches_plot, classes_plot, batches, klass, *page_outputs]
    refresh_btn.click(refresh, filters, outputs, api_visibility="private")
    page.submit(rows, filters, page_outputs, api_visibility="private")
    search.submit(first_page, [search, klass], page_outputs, api_visibility="private")
    klass.input(first_page, [search, klass], page_outputs, api_visibility="private")
    prev_btn.click(step(-1), filters, page_outputs, api_visibility="private")
    next_btn.click(step(+1), filters, page_outputs, api_visibility="private")

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
        if not y_path:
            # Said here, before any run: the run's own error would name the staged file's path.
            problem = missing_labels(x_path)
            if problem:
                return notice(problem, "warn")
        return run_ingest(user, request, progress, x_path, y_path)

    ingest_btn.click(ingest_next, [session_user], [ingest_msg], concurrency_limit=1,
                     concurrency_id="control", api_visibility="private").then(
        refresh, filters, outputs, api_visibility="private")
    files_btn.click(ingest_files, [session_user, x_file, y_file], [ingest_msg], concurrency_limit=1,
                    concurrency_id="control", api_visibility="private").then(
        refresh, filters, outputs, api_visibility="private")
    return TabHandles(refresh, filters, outputs)
