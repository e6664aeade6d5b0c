"""Review tab: logged predictions that a label would help most, labelled from the keyboard and saved
through the API's /feedback; the labelling requests drift opened; live quality per model version;
labels exported and imported as CSV."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from gradio_hub.auth import NotAllowed
from gradio_hub.common import TabHandles, describe_error, esc, notice, table
from gradio_hub.context import HubContext
from gradio_hub.labelling import category_choices, export_labels_csv, import_labels, resolve_label
from rakuten_assets.core.categories import category_name

QUEUE_ROWS = 25
QUEUE_TYPES = ["number", "str", "str", "str", "number", "number", "str"]
QUEUE_COLUMNS = ["priority", "logged", "title", "predicted", "confidence", "known words", "drifted window"]


def queue_frame(raw: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return pd.DataFrame(columns=QUEUE_COLUMNS)
    return pd.DataFrame({
        "priority": raw["priority"].round(2),
        "logged": pd.to_datetime(raw["created_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S"),
        "title": raw["designation"].astype(str).str.slice(0, 120),
        "predicted": [f"{c} {category_name(c).split(' > ')[-1]}" for c in raw["prdtypecode"]],
        "confidence": raw["confidence"].round(3),
        "known words": raw["known_word_share"].astype(float).round(2),
        "drifted window": ["yes" if d else "" for d in raw["in_drifted_window"]],
    })[QUEUE_COLUMNS]


def item_html(row: dict | None) -> str:
    if row is None:
        return notice("Nothing to review: every logged prediction shown here has a label, or none was "
                      "logged yet.", "ok")
    known = row.get("known_word_share")
    known_text = "n/a" if known is None or known != known else f"{100 * float(known):.0f}%"
    description = row.get("description") or ""
    return (
        '<div class="hub-review-item">'
        f'<div style="font-size:1.25em;font-weight:700" class="hub-review-title">{esc(row["designation"])}</div>'
        + (f'<div style="margin:0.3em 0;opacity:0.85">{esc(description[:600])}</div>' if description else "")
        + f'<div>The model said <b>{esc(row["prdtypecode"])} · {esc(category_name(int(row["prdtypecode"])))}</b> '
        f'with confidence {100 * float(row["confidence"]):.0f}%; it knew {known_text} of the words. '
        f'Model v{esc(row["model_version"])} · prediction {esc(row["prediction_id"])}</div></div>')


def requests_html(requests, qualities, min_labels: int) -> str:
    parts = []
    open_ones = [r for r in requests if r.status == "open"]
    if open_ones:
        for r in open_ones:
            parts.append(notice(
                f"Labelling request {r.id} (opened {r.opened_at:%Y-%m-%d %H:%M} UTC by drift on the "
                f"traffic of v{r.model_version}): {r.labels} of {r.labels_needed} labels on traffic since "
                f"{r.window_start:%Y-%m-%d %H:%M} UTC. Retraining starts once it has them. {r.note}", "warn"))
    else:
        parts.append(notice("No open labelling request: drift has not asked for labels.", "info"))
    rows = [[q.model_version, q.labels,
             f"{q.accuracy:.3f}" if q.labels >= min_labels else f"(fewer than {min_labels} labels)",
             f"{q.weighted_f1:.3f}" if q.labels >= min_labels else ""] for q in qualities]
    if rows:
        parts.append("<p>Live quality on labelled traffic:</p>"
                     + table(["model version", "labels", "accuracy", "weighted F1"], rows))
    return "".join(parts)


def build(ctx: HubContext, session_user: gr.State) -> TabHandles:
    gr.Markdown("Ground truth for production: the logged predictions a label would help most (low "
                "confidence, words the model does not know, traffic drift asked labels for), labelled "
                "here and saved through the API's `/feedback`. Labels become training data; the "
                "next retraining learns from them.")
    refresh_btn = gr.Button("Refresh", size="sm", elem_id="review-refresh")
    status = gr.HTML(elem_id="review-requests")
    queue = gr.DataFrame(datatype=QUEUE_TYPES, interactive=False, wrap=True, max_height=320,
                         column_widths=["8%", "14%", "34%", "18%", "9%", "9%", "8%"], elem_id="review-queue")
    gr.Markdown("### Label the next one\nType the code (e.g. `2583`) or the start of words of its "
                "category, in English or French (e.g. `piscine spa`, `linge`), and press Enter; or pick "
                "it in the list and press *Save label*.")
    item = gr.HTML(elem_id="review-item")
    with gr.Row():
        typed = gr.Textbox(label="Code or category words (Enter saves)", elem_id="review-typed", scale=2)
        chosen = gr.Dropdown(category_choices(), label="Or pick the category", value=None,
                             filterable=True, elem_id="review-choice", scale=3)
    with gr.Row():
        save_btn = gr.Button("Save label", variant="primary", elem_id="review-save")
        right_btn = gr.Button("The model is right", elem_id="review-right")
        skip_btn = gr.Button("Skip", elem_id="review-skip")
    message = gr.HTML(elem_id="review-message")
    current = gr.State(None)   # the prediction being labelled (a dict of its log row)
    skipped = gr.State([])     # prediction ids this session skipped

    gr.Markdown("### Labels as CSV\nExport every label with the text it labels; import a CSV with "
                "`prediction_id,prdtypecode` columns (through the same /feedback path).")
    with gr.Row():
        export_btn = gr.Button("Export labels", elem_id="review-export")
        export_file = gr.File(label="Labels (CSV)", interactive=False, elem_id="review-export-file")
    with gr.Row():
        import_file = gr.File(label="Labels to import (CSV)", file_types=[".csv"], type="filepath",
                              elem_id="review-import-file")
        import_btn = gr.Button("Import labels", elem_id="review-import")
    import_msg = gr.HTML(elem_id="review-import-message")

    def load(skip_ids):
        try:
            requests = ctx.store.labelling_requests()
            qualities = ctx.store.live_quality()
            raw = ctx.store.review_queue(limit=QUEUE_ROWS + len(skip_ids or []))
        except Exception as exc:  # noqa: BLE001
            err = notice(describe_error(exc), "error")
            return err, None, item_html(None), None, gr.update()
        raw = raw[~raw["prediction_id"].isin(skip_ids or [])].head(QUEUE_ROWS) if not raw.empty else raw
        nxt = raw.iloc[0].to_dict() if not raw.empty else None
        return (requests_html(requests, qualities, ctx.settings.live_quality_min_labels), queue_frame(raw),
                item_html(nxt), nxt, gr.update(value=int(nxt["prdtypecode"]) if nxt else None))

    def refresh(skip_ids=None):
        return load(skip_ids or [])

    outputs = [status, queue, item, current, chosen]

    def save_code(user, row, code, request):
        who = ctx.gate.require(user, request, "labelling")
        answer = ctx.api.feedback(row["prediction_id"], code)
        verb = {"stored": "Saved", "replaced": "Replaced the earlier label with",
                "unchanged": "Already labelled"}.get(answer.get("status"), "Saved")
        return notice(f"{verb} {code} · {category_name(code)} for “{row['designation'][:80]}” (by {who}).", "ok")

    def save(user, row, text, picked, skip_ids, request: gr.Request):
        if row is None:
            return notice("Nothing to label.", "info"), "", *load(skip_ids)
        code, candidates = resolve_label(text)
        if text and text.strip() and code is None:
            if candidates:
                names = "; ".join(f"{c} {category_name(c)}" for c in candidates[:8])
                return notice(f"“{text}” matches several categories: {names}. Type more words or the code.",
                              "warn"), gr.skip(), *[gr.skip()] * len(outputs)
            return notice(f"“{text}” is no code and names no category; try another word.", "warn"), \
                gr.skip(), *[gr.skip()] * len(outputs)
        code = code if code is not None else (int(picked) if picked else None)
        if code is None:
            return notice("Type a code or pick a category first.", "warn"), gr.skip(), *[gr.skip()] * len(outputs)
        try:
            said = save_code(user, row, code, request)
        except NotAllowed as exc:
            return notice(exc.user_message(), "warn"), gr.skip(), *[gr.skip()] * len(outputs)
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error"), gr.skip(), *[gr.skip()] * len(outputs)
        return said, "", *load(skip_ids)

    def confirm(user, row, skip_ids, request: gr.Request):
        if row is None:
            return notice("Nothing to label.", "info"), "", *load(skip_ids)
        return save(user, row, str(int(row["prdtypecode"])), None, skip_ids, request)

    def skip(row, skip_ids):
        skip_ids = list(skip_ids or []) + ([row["prediction_id"]] if row else [])
        return skip_ids, notice("Skipped; it stays in the queue for the next visit.", "info"), *load(skip_ids)

    save_outputs = [message, typed, *outputs]
    typed.submit(save, [session_user, current, typed, chosen, skipped], save_outputs, api_visibility="private")
    save_btn.click(save, [session_user, current, typed, chosen, skipped], save_outputs, api_visibility="private")
    right_btn.click(confirm, [session_user, current, skipped], save_outputs, api_visibility="private")
    skip_btn.click(skip, [current, skipped], [skipped, message, *outputs], api_visibility="private")
    refresh_btn.click(refresh, [skipped], outputs, api_visibility="private")

    def export(user, request: gr.Request):
        try:
            ctx.gate.require(user, request, "exporting labels")
            frame = ctx.store.export_labels()
        except NotAllowed as exc:
            return None, notice(exc.user_message(), "warn")
        except Exception as exc:  # noqa: BLE001
            return None, notice(describe_error(exc), "error")
        return str(export_labels_csv(frame)), notice(f"{len(frame)} labels exported.", "ok")

    def run_import(user, path, request: gr.Request):
        if not path:
            return notice("Upload a CSV with prediction_id and prdtypecode columns first.", "warn")
        try:
            ctx.gate.require(user, request, "importing labels")
            outcome = import_labels(ctx.api, path)
        except NotAllowed as exc:
            return notice(exc.user_message(), "warn")
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error")
        return notice(outcome.summary(), "ok" if not outcome.refused else "warn")

    export_btn.click(export, [session_user], [export_file, import_msg], api_visibility="private")
    import_btn.click(run_import, [session_user, import_file], [import_msg], api_visibility="private").then(
        refresh, [skipped], outputs, api_visibility="private")
    return TabHandles(refresh, [skipped], outputs)
