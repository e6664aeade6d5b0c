"""Predict tab: one product through the API, a CSV in batch, and the recent prediction history."""

from __future__ import annotations

import time

import gradio as gr
import pandas as pd

from gradio_hub.batch import LOW_KNOWN_SHARE, BadUpload, predict_frame, read_upload
from gradio_hub.common import TabHandles, describe_error, esc, notice, table
from gradio_hub.context import HubContext

HISTORY_TYPES = ["str", "str", "str", "number", "str", "number", "str", "number"]
PREVIEW_ROWS = 50
PREDICTION_COLUMNS = ["prdtypecode", "category", "confidence", "status", "model_version",
                      "known_word_share"]
HISTORY_WAIT_S = 5.0  # the API writes its inference log every half second or so


def preview_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The batch result for the screen: what the model said first, then the uploaded columns."""
    first = [c for c in PREDICTION_COLUMNS if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]].head(PREVIEW_ROWS).astype(str)


def known_words_html(share) -> str:
    if share is None:
        return ""
    if share < LOW_KNOWN_SHARE:
        return notice(f"The model knows only {100 * share:.0f}% of these words: text of a kind it never saw, "
                      "so this answer says little. A label for it (Review tab) teaches the next model.", "warn")
    return f'<div class="hub-known-words">The model knows {100 * share:.0f}% of these words.</div>'


def result_html(answer: dict) -> str:
    top = answer.get("top_k") or []
    rows = [[str(t["prdtypecode"]), t["category"], f"{100 * float(t['probability']):.1f}%"] for t in top]
    return known_words_html(answer.get("known_word_share")) + (
        '<div class="hub-prediction" style="margin:0.3em 0 0.6em">'
        '<div style="opacity:0.75">Predicted category</div>'
        f'<div class="hub-predicted-category" style="font-size:1.4em;font-weight:700">{esc(answer["category"])}</div>'
        f'<div>code {esc(answer["prdtypecode"])} · confidence {100 * float(answer["confidence"]):.1f}% · '
        f'model v{esc(answer["model_version"])} · prediction {esc(answer["prediction_id"])}</div></div>'
        + table(["code", "category", "probability"], rows)
    )


def top_k_html(answer: dict | None) -> str:
    """The top-k as horizontal bars in HTML: each label is text in its own line that wraps, so it
    is never clipped (a plot library's rotated axis labels were cut off for long category names)."""
    top = (answer or {}).get("top_k") or []
    if not top:
        return ""
    rows = []
    for t in top:
        share = max(0.0, min(1.0, float(t["probability"])))
        rows.append(
            '<div class="hub-bar" style="display:grid;grid-template-columns:minmax(8em,40%) 1fr 4em;'
            'gap:0.5em;align-items:center;margin:0.25em 0">'
            f'<div class="hub-bar-label" style="overflow-wrap:anywhere">{esc(t["prdtypecode"])} '
            f'{esc(t["category"].split(" > ")[-1])}</div>'
            '<div style="background:#eef1f5;border-radius:3px;height:1.1em">'
            f'<div style="background:#3b73b9;height:100%;border-radius:3px;width:{100 * share:.1f}%"></div></div>'
            f'<div style="text-align:right">{100 * share:.1f}%</div></div>')
    return '<div class="hub-top-k"><div style="font-weight:600">Top-5 probabilities</div>' + "".join(rows) + "</div>"


def build(ctx: HubContext) -> TabHandles:
    gr.Markdown("Ask the API (the champion model in production) for a product's category.")
    with gr.Row():
        with gr.Column(scale=1):
            designation = gr.Textbox(label="Title (designation)", lines=1, max_lines=3,
                                     placeholder="e.g. Lot de 3 figurines Pokémon", elem_id="predict-designation")
            description = gr.Textbox(label="Description (optional; HTML is fine, it is never rendered)",
                                     lines=4, elem_id="predict-description")
            predict_btn = gr.Button("Predict", variant="primary", elem_id="predict-button")
        with gr.Column(scale=1):
            result = gr.HTML(elem_id="predict-result")
            chart = gr.HTML(elem_id="predict-chart")
    last_prediction = gr.State(None)

    def predict(title: str, text: str):
        if not (title or "").strip():
            return notice("Enter a product title first: the title (designation) is required.", "warn"), \
                "", None
        try:
            answer = ctx.api.predict(title, text)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence
            return notice(describe_error(exc), "error"), "", None
        return result_html(answer), top_k_html(answer), answer.get("prediction_id")

    gr.Markdown("### Batch prediction from a CSV\nThe official format (`X_test_update.csv`: unnamed "
                "index, designation, description, productid, imageid) or any CSV with a "
                "`designation` column (and optionally `description`). The result keeps your columns "
                "and adds prdtypecode, category, confidence, model_version, status and "
                "known_word_share (the share of a row's words the model knows).")
    with gr.Row():
        upload = gr.File(label="CSV to predict", file_types=[".csv"], type="filepath",
                         elem_id="batch-upload")
        download = gr.File(label="Predictions (CSV)", interactive=False, elem_id="batch-download")
    batch_btn = gr.Button("Predict the file", elem_id="batch-button")
    batch_msg = gr.HTML(elem_id="batch-message")
    batch_preview = gr.DataFrame(label=f"First {PREVIEW_ROWS} rows of the result", datatype="str",
                                 interactive=False, wrap=True, max_height=360, elem_id="batch-preview",
                                 visible=False)

    def batch(path: str | None, progress=gr.Progress()):
        if not path:
            return notice("Upload a CSV first.", "warn"), None, gr.update(visible=False)
        try:
            frame = read_upload(path, ctx.settings.hub_batch_max_rows)
            outcome = predict_frame(frame, ctx.api, ctx.settings, progress=progress)
        except BadUpload as exc:
            return notice(str(exc), "error"), None, gr.update(visible=False)
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error"), None, gr.update(visible=False)
        kind = "ok" if outcome.skipped == 0 else "warn"
        preview = preview_frame(outcome.frame)
        said = notice(outcome.summary(), kind)
        if warning := outcome.known_words_warning():
            said += f'<div class="hub-batch-known-words">{notice(warning, "warn")}</div>'
        return said, str(outcome.path), gr.update(value=preview, visible=True)

    batch_btn.click(batch, [upload], [batch_msg, download, batch_preview], api_visibility="private",
                    concurrency_id="predict")

    gr.Markdown("### Recent predictions (inference log, newest first)")
    history_refresh = gr.Button("Refresh history", size="sm", elem_id="history-refresh")
    history_msg = gr.HTML()
    history = gr.DataFrame(datatype=HISTORY_TYPES, interactive=False, wrap=True, max_height=420,
                           column_widths=["12%", "22%", "24%", "7%", "16%", "7%", "6%", "6%"],
                           elem_id="predict-history")

    def refresh():
        try:
            return "", ctx.store.recent_predictions(50)
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error"), None

    def refresh_after(prediction_id):
        """After a prediction: the history once the API has logged it (it writes in the
        background), or as it is after a few seconds."""
        if not prediction_id:
            return gr.skip(), gr.skip()
        deadline = time.monotonic() + HISTORY_WAIT_S
        while time.monotonic() < deadline:
            try:
                if ctx.store.prediction_logged(prediction_id):
                    break
            except Exception:  # noqa: BLE001 - refresh() below says what is wrong
                break
            time.sleep(0.3)
        return refresh()

    for trigger in (predict_btn.click, designation.submit):
        trigger(predict, [designation, description], [result, chart, last_prediction],
                api_visibility="private", concurrency_id="predict").then(
            refresh_after, [last_prediction], [history_msg, history], api_visibility="private",
            show_progress="hidden")
    history_refresh.click(refresh, outputs=[history_msg, history], api_visibility="private")
    return TabHandles(refresh, [], [history_msg, history])
