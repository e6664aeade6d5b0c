"""Training tab: MLflow runs and registered versions, confusion matrices, Dagster runs launched and
followed from here, and promotion / roll-back of the champion alias with a confirmation."""

from __future__ import annotations

from datetime import UTC, datetime

import gradio as gr
import pandas as pd

from gradio_hub.auth import NotAllowed
from gradio_hub.clients.dagster import JOBS, RunInfo
from gradio_hub.clients.docker import human_duration
from gradio_hub.common import TabHandles, describe_error, esc, link, notice, table
from gradio_hub.context import HubContext
from rakuten_assets.core.promotion import MOVE_BY_PERSON, MOVE_ROLLBACK

RUN_TYPES = ["str", "str", "str", "number", "number", "number", "number", "str", "str", "str", "str"]
VERSION_TYPES = ["number", "str", "str", "number", "number", "str", "str", "str", "str"]
DAGSTER_RUN_TYPES = ["str", "str", "str", "str", "str"]
MOVE_TYPES = ["str", "str", "str", "str", "str", "str"]
MOVE_COLUMNS = ["when", "from", "to", "by what", "who", "reason"]


def moves_frame(raw: pd.DataFrame) -> pd.DataFrame:
    if raw.empty:
        return pd.DataFrame(columns=MOVE_COLUMNS)
    return pd.DataFrame({
        "when": pd.to_datetime(raw["moved_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "from": raw["from_version"].fillna("none").astype(str),
        "to": raw["to_version"].astype(str),
        "by what": raw["kind"].map({"rule": "promotion rule", "manual": "person",
                                    "rollback": "roll back"}).fillna(raw["kind"]),
        "who": raw["actor"].astype(str), "reason": raw["reason"].astype(str)})


def _fmt(dt) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if dt else ""


def dagster_runs_frame(runs: list[RunInfo]) -> pd.DataFrame:
    return pd.DataFrame([{"run id": r.run_id, "job": r.job, "status": r.status, "created": _fmt(r.created),
                          "duration": f"{r.duration_s:.0f} s" if r.duration_s is not None else ""}
                         for r in runs], columns=["run id", "job", "status", "created", "duration"])


# A run's process usually starts within tens of seconds on a small machine; past this it is worth
# a look at the run's logs (a process that died while loading the code leaves the run STARTING).
STARTING_SLOW_S = 120


def starting_text(run: RunInfo, now: datetime) -> str:
    """What a STARTING run waits for, and for how long. Dagster has no start time until the first
    event of the run's own process, so the time counted is since the run was created."""
    text = ("the run's own process is starting: it loads the project's code (the rakuten code "
            "location) and opens the Dagster instance before its first step")
    if run.created is None:
        return text
    seconds = max(0.0, (now - run.created).total_seconds())
    text += f"; launched {human_duration(seconds)} ago"
    if seconds > STARTING_SLOW_S:
        return text + (", longer than the usual tens of seconds: if it stays here, the run's process "
                       "may have failed to start, and the run's logs in the Dagster UI say why")
    return text + " (tens of seconds is usual on a small machine)"


def run_html(ctx: HubContext, run: RunInfo) -> str:
    kind = {"SUCCESS": "ok", "FAILURE": "error", "CANCELED": "warn"}.get(run.status, "info")
    done = sum(1 for s in run.steps if s.get("status") == "SUCCESS")
    steps = [[s.get("stepKey", ""), s.get("status") or "waiting"] for s in run.steps]
    words = {"QUEUED": "queued (the Dagster daemon starts it)", "STARTING": "starting",
             "STARTED": "running", "SUCCESS": "finished successfully", "FAILURE": "failed",
             "CANCELED": "canceled", "NOT_STARTED": "not started", "CANCELING": "canceling"}
    text = (f"Dagster run {run.run_id[:8]} of {run.job}: {words.get(run.status, run.status)}"
            + (f", {done} step(s) done" if run.steps else "")
            + (f", {run.duration_s:.0f} s" if run.duration_s is not None else "") + ".")
    html = notice(text, kind) + f'<p class="hub-run-status" data-status="{esc(run.status)}">' \
        f'Status: <b>{esc(run.status)}</b> · {link(ctx.dagster.run_url(run.run_id), "open this run in the Dagster UI")}</p>'
    # Until its first step starts a run has no steps to show: say what it is and what it waits for.
    now = datetime.now(UTC)
    details = [["run id", run.run_id], ["job", run.job],
               ["launched by", run.tags.get("launched_by", "n/a")],
               ["created", f"{_fmt(run.created)} ({(now - run.created).total_seconds():.0f} s ago)"
                if run.created else "n/a"]]
    if run.assets:
        details.append(["assets", ", ".join(run.assets)])
    if not run.finished:
        waiting = {"QUEUED": "waiting for the Dagster daemon to take it from the queue (the Overview "
                             "says whether the daemon is running)",
                   "NOT_STARTED": "waiting for the Dagster daemon to take it from the queue",
                   "STARTING": starting_text(run, now),
                   "STARTED": f"running step {next((s.get('stepKey') for s in run.steps if s.get('status') == 'IN_PROGRESS'), 'by step')}"}
        details.append(["now", waiting.get(run.status, run.status.lower())])
    html += table(None, details, raw_columns=set()).replace('class="hub-table"', 'class="hub-table hub-run-details"', 1)
    if steps:
        html += table(["step", "status"], steps)
    if run.status == "FAILURE":
        causes = "; ".join(run.errors) or "see the Dagster UI (link above)"
        html += notice(f"The run failed. {causes}. The Dagster UI has the full logs.", "error")
    return html


def build(ctx: HubContext, session_user: gr.State) -> TabHandles:
    gr.Markdown("Training runs in MLflow, the registered versions of the model, and the controls "
                "that change production: a new materialisation in Dagster, or moving the "
                f"`{ctx.settings.champion_alias}` alias.")
    refresh_btn = gr.Button("Refresh", size="sm", elem_id="training-refresh")
    message = gr.HTML(elem_id="training-message")
    gr.Markdown("### Registered versions")
    versions = gr.DataFrame(datatype=VERSION_TYPES, interactive=False, wrap=True, max_height=320,
                            column_widths=["7%", "9%", "14%", "8%", "8%", "8%", "28%", "9%", "9%"],
                            elem_id="training-versions")
    gr.Markdown("### Champion moves (newest first: the rule's promotions, people's moves, roll backs)")
    moves = gr.DataFrame(datatype=MOVE_TYPES, interactive=False, wrap=True, max_height=260,
                         column_widths=["17%", "8%", "8%", "9%", "16%", "42%"], elem_id="training-moves")
    gr.Markdown("### MLflow runs (click a column header to sort)")
    runs = gr.DataFrame(datatype=RUN_TYPES, interactive=False, wrap=True, max_height=360,
                        column_widths=["15%", "12%", "8%", "8%", "8%", "8%", "9%", "7%", "6%", "9%", "10%"],
                        elem_id="training-runs")

    with gr.Row():
        with gr.Column():
            gr.Markdown("### Champion alias")
            champion_now = gr.HTML(elem_id="champion-now")
            promote_version = gr.Dropdown(label="Version to make champion", choices=[],
                                          elem_id="promote-version")
            promote_reason = gr.Textbox(label="Reason (kept on the version)", elem_id="promote-reason",
                                        placeholder="e.g. better on the new batch")
            with gr.Row():
                promote_btn = gr.Button("Promote…", elem_id="promote-button")
                rollback_btn = gr.Button("Roll back…", elem_id="rollback-button")
            with gr.Group(visible=False) as confirm_box:
                confirm_text = gr.HTML(elem_id="confirm-text")
                with gr.Row():
                    confirm_btn = gr.Button("Confirm", variant="stop", elem_id="confirm-button")
                    cancel_btn = gr.Button("Cancel", elem_id="cancel-button")
            alias_msg = gr.HTML(elem_id="alias-message")
            pending = gr.State(None)

    # Full width and unscaled: 27 classes need the figure's own pixels to be readable.
    gr.Markdown("### Confusion matrix (rows: true class, share of it predicted as each column)")
    cm_version = gr.Dropdown(label="Version", choices=[], elem_id="cm-version")
    cm_msg = gr.HTML()
    cm_image = gr.Image(type="filepath", interactive=False, show_label=False, elem_id="cm-image",
                        buttons=["download", "fullscreen"], visible=False)
    gr.Markdown("### Materialise in Dagster\nThe run goes through Dagster's GraphQL API, so it shows "
                "in the Dagster UI with its logs. `training_job` retrains on the rows already stored; "
                "`all_assets_job` ingests the next batch first.")
    with gr.Row():
        job = gr.Dropdown(list(JOBS), value="training_job", label="Job", elem_id="launch-job", scale=2)
        launch_btn = gr.Button("Launch", variant="primary", elem_id="launch-button", scale=1)
    run_out = gr.HTML(elem_id="launch-status")
    following = gr.State(None)
    timer = gr.Timer(2.0, active=False)
    dagster_runs = gr.DataFrame(label="Recent Dagster runs", datatype=DAGSTER_RUN_TYPES,
                                interactive=False, max_height=300, elem_id="dagster-runs")

    # --- reads -----------------------------------------------------------------------------------
    def champion_line() -> str:
        champ = ctx.registry.champion()
        if champ is None:
            return notice("No champion yet.", "warn")
        f1 = champ.metrics.get("test_weighted_f1")
        return notice(f"{ctx.settings.model_name}@{ctx.settings.champion_alias} is version "
                      f"{champ.version}" + (f" (weighted F1 {f1:.4f})" if f1 is not None else "") + ".", "info")

    def registry_views():
        try:
            frame = ctx.registry.versions()
            line = champion_line()
            run_frame = ctx.registry.runs()
            move_frame = moves_frame(ctx.store.champion_moves())
        except Exception as exc:  # noqa: BLE001
            err = notice(describe_error(exc), "error")
            return err, None, None, gr.update(), gr.update(), err, None
        choices = [str(v) for v in frame["version"]]
        # Promote offers evaluated versions only (the client refuses the others too).
        evaluated = [str(v) for v, f1 in zip(frame["version"], frame["weighted F1"]) if pd.notna(f1)]
        return ("", frame, run_frame, gr.update(choices=choices, value=choices[0] if choices else None),
                gr.update(choices=evaluated), line, move_frame)

    def dagster_view():
        try:
            return dagster_runs_frame(ctx.dagster.runs(15)), ""
        except Exception as exc:  # noqa: BLE001
            return None, notice(describe_error(exc), "warn")

    def refresh():
        msg, frame, run_frame, cm_update, promote_update, line, move_frame = registry_views()
        dagster_frame, dagster_msg = dagster_view()
        return (msg + dagster_msg, frame, run_frame, cm_update, promote_update, line, dagster_frame,
                move_frame)

    outputs = [message, versions, runs, cm_version, promote_version, champion_now, dagster_runs, moves]
    refresh_btn.click(refresh, outputs=outputs, api_visibility="private")

    # No empty image frame when there is nothing to show: the sentence says why.
    no_image = gr.update(value=None, visible=False)

    def confusion(version):
        if not version:
            return "", no_image
        try:
            path = ctx.registry.confusion_matrix(str(version))
        except Exception as exc:  # noqa: BLE001
            return notice(describe_error(exc), "error"), no_image
        if path is None:
            return notice(f"Version {version} has no confusion matrix: it was registered outside the "
                          "pipeline (the pipeline logs evaluation/confusion_matrix_v<N>.png).", "info"), no_image
        return "", gr.update(value=path, visible=True)

    cm_version.change(confusion, [cm_version], [cm_msg, cm_image], api_visibility="private")

    # --- promotion and roll-back with a confirmation ---------------------------------------------------
    hidden = gr.update(visible=False)

    def ask(kind: str, user, version, reason, request: gr.Request):
        try:
            ctx.gate.require(user, request, "promotion" if kind == "promote" else "roll-back")
            current, target = ctx.registry.rollback_target()
            if kind == "promote":
                target = str(version) if version else None
                if not target:
                    return None, hidden, "", notice("Choose the version to promote first.", "warn")
            elif target is None:
                return None, hidden, "", notice("Nothing to roll back to: no recorded move of the "
                                                "alias has a previous champion.", "warn")
            if current == target:
                return None, hidden, "", notice(f"Version {target} already is the champion.", "info")
        except NotAllowed as exc:
            # The session's state is left as it is: a refused caller (a replayed session_hash,
            # say) must not be able to clear a signed-in user's pending move either.
            return gr.skip(), gr.skip(), gr.skip(), notice(exc.user_message(), "warn")
        except Exception as exc:  # noqa: BLE001
            return None, hidden, "", notice(describe_error(exc), "error")
        verb = "Promote" if kind == "promote" else "Roll back to"
        text = (f"{verb} version {target}? The alias {ctx.settings.champion_alias} moves from "
                f"{'version ' + current if current else 'nowhere'} to version {target}; the API serves "
                "it within its polling interval.")
        return ({"kind": kind, "version": target, "from": current, "reason": (reason or "").strip()},
                gr.update(visible=True), notice(text, "warn"), "")

    def confirm(user, action, request: gr.Request):
        if not action:
            return None, hidden, notice("Nothing to confirm.", "info")
        try:
            who = ctx.gate.require(user, request, "promotion")
            kind = MOVE_BY_PERSON if action["kind"] == "promote" else MOVE_ROLLBACK
            word = "promoted" if kind == MOVE_BY_PERSON else "rolled back"
            reason = f"{word} from the hub" + (f": {action['reason']}" if action["reason"] else "")
            moved = ctx.registry.move_champion(action["version"], kind=kind, actor=who, reason=reason)
        except NotAllowed as exc:
            return gr.skip(), gr.skip(), notice(exc.user_message(), "warn")  # pending move kept, as in ask
        except Exception as exc:  # noqa: BLE001
            return None, hidden, notice(describe_error(exc), "error")
        before = moved.from_version
        text = (f"Done: {ctx.settings.model_name}@{ctx.settings.champion_alias} moved from "
                f"{'version ' + before if before else 'nowhere'} to version {moved.to_version} "
                f"by {who} ({reason}).")
        try:
            ctx.dagster.report_champion_move(
                f"champion {kind} move by {who}: version {before or 'none'} -> {moved.to_version}; {reason}")
        except Exception as exc:  # noqa: BLE001 - the move is done and recorded; say what is missing
            text += f" Dagster could not be told ({describe_error(exc)}); the move is in the audit trail below."
        if ctx.settings.admin_token:
            try:
                answer = ctx.api.reload()
                text += f" The API now serves version {answer.get('version')}."
            except Exception as exc:  # noqa: BLE001
                text += f" The API could not be told at once ({describe_error(exc)}); it picks the change up at its next poll."
        else:
            text += " The API picks the change up at its next registry poll."
        return None, hidden, notice(text, "ok")

    def cancel():
        return None, hidden, notice("Cancelled: nothing changed.", "info")

    def ask_promote(user, version, reason, request: gr.Request):
        return ask("promote", user, version, reason, request)

    def ask_rollback(user, version, reason, request: gr.Request):
        return ask("rollback", user, version, reason, request)

    promote_btn.click(ask_promote,
                      [session_user, promote_version, promote_reason],
                      [pending, confirm_box, confirm_text, alias_msg], api_visibility="private")
    rollback_btn.click(ask_rollback,
                       [session_user, promote_version, promote_reason],
                       [pending, confirm_box, confirm_text, alias_msg], api_visibility="private")
    confirm_btn.click(confirm, [session_user, pending], [pending, confirm_box, alias_msg],
                      concurrency_limit=1, concurrency_id="control", api_visibility="private").then(
        refresh, outputs=outputs, api_visibility="private")
    cancel_btn.click(cancel, outputs=[pending, confirm_box, alias_msg], api_visibility="private")

    # --- materialisation launched in Dagster and followed ----------------------------------------------
    def launch(user, job_name, request: gr.Request, progress=gr.Progress()):
        try:
            who = ctx.gate.require(user, request, "materialisation")
            progress(0.2, desc=f"Submitting {job_name} to Dagster")
            run_id = ctx.dagster.launch(job_name, tags={"launched_by": f"rakuten-hub:{who}"})
            run = ctx.dagster.run(run_id)
        except NotAllowed as exc:
            return None, notice(exc.user_message(), "warn"), gr.Timer(active=False), gr.skip()
        except Exception as exc:  # noqa: BLE001
            return None, notice(describe_error(exc), "error"), gr.Timer(active=False), gr.skip()
        runs_frame, _ = dagster_view()
        return run_id, run_html(ctx, run), gr.Timer(active=not run.finished), runs_frame

    def follow(run_id):
        """Every 2 s while a launched run goes on; when it ends, the whole tab is read again, so
        a version the run registered is listed and can be chosen at once."""
        untouched = [gr.skip()] * len(outputs)
        if not run_id:
            return gr.Timer(active=False), gr.skip(), *untouched
        try:
            run = ctx.dagster.run(run_id)
        except Exception as exc:  # noqa: BLE001 - say it and keep following: Dagster may be restarting
            return gr.Timer(active=True), notice(describe_error(exc), "warn"), *untouched
        if not run.finished:
            runs_frame, _ = dagster_view()
            follow_up = list(untouched)
            follow_up[outputs.index(dagster_runs)] = runs_frame
            return gr.Timer(active=True), run_html(ctx, run), *follow_up
        return gr.Timer(active=False), run_html(ctx, run), *refresh()

    launch_btn.click(launch, [session_user, job], [following, run_out, timer, dagster_runs],
                     concurrency_limit=1, concurrency_id="control", api_visibility="private")
    timer.tick(follow, [following], [timer, run_out, *outputs], show_progress="hidden",
               api_visibility="private")
    return TabHandles(refresh, [], outputs)
