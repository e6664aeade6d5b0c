"""Infrastructure tab: what runs the system, and its logs.

With a Docker engine (the compose stack): every container of the stack with its state, health,
uptime and restart count; start, stop and restart (control actions, behind the login, one at a
time); the last lines of a container's log with a text filter. On the embedded default
(`rakuten up`): the local services with pid, state and uptime, and their log files."""

from __future__ import annotations

from datetime import UTC, datetime

import gradio as gr

from gradio_hub.auth import NotAllowed
from gradio_hub.clients.docker import human_duration
from gradio_hub.common import (
    ServiceUnavailable, TabHandles, badge, describe_error, esc, notice, table,
)
from gradio_hub.context import HubContext

LOG_LINES = 200
ACTIONS = ("start", "stop", "restart")


def _state_badge(state: str, health: str | None = None) -> str:
    if state == "running" and health in (None, "healthy"):
        kind = "ok"
    elif state == "running" and health == "starting":
        kind = "warn"
    elif state in ("restarting", "paused", "created"):
        kind = "warn"
    else:
        kind = "error"
    return badge(state + (f" · {health}" if health else ""), kind)


def docker_view(ctx: HubContext) -> tuple[str, list[str]]:
    """(HTML table of the containers, their names) or raises ServiceUnavailable."""
    found = ctx.docker.containers()
    now = datetime.now(UTC)
    rows = []
    for c in found:
        rows.append([esc(c.label) + (" <small>(this hub)</small>" if c.is_self else ""),
                     _state_badge(c.state, c.health), esc(human_duration(c.uptime_seconds(now))),
                     esc(c.restart_count), esc("" if c.exit_code is None else c.exit_code),
                     esc(c.image), esc(c.name)])
    project = ctx.docker.project
    head = notice(f"Docker engine: {len(found)} containers" + (f" of the compose project {project}" if project
                  else "") + f", {sum(c.state == 'running' for c in found)} running.", "info")
    body = table(["service", "state", "uptime", "restarts", "exit code", "image", "container"], rows,
                 raw_columns={0, 1})
    return head + body, [c.label for c in found]


def local_view(ctx: HubContext) -> tuple[str, list[str]]:
    supervisor, services = ctx.local_services.services()
    rows = [[esc(s.name), _state_badge(s.state), esc(s.pid or ""), esc(human_duration(s.uptime_s)),
             esc("" if s.returncode is None else s.returncode), f"<code>{esc(s.command[:160])}</code>"]
            for s in services]
    if supervisor:
        head = notice(f"Embedded default: rakuten up supervises {len(services)} processes on this machine; "
                      "each one's output is also in RAKUTEN_HOME/logs.", "info")
    else:
        head = notice("rakuten up is not running: these are the processes it last ran. Start it with "
                      "make run.", "warn")
    return head + table(["service", "state", "pid", "uptime", "exit code", "command"], rows,
                        raw_columns={1, 5}), [s.name for s in services]


def container_action(ctx: HubContext, action: str, user, which: str | None, name: str | None,
                     request) -> str:
    """Start, stop or restart one container for a signed-in user; the answer as HTML."""
    if which != "docker":
        return notice("Start, stop and restart act on containers: no Docker engine here.", "info")
    if not name:
        return notice("Choose a service first.", "info")
    try:
        who = ctx.gate.require(user, request, f"{action} of a container")
        if action == "stop" and ctx.docker.container(name).is_self:
            # Nothing in the hub could start it again: that takes `docker compose start hub`.
            return notice(f"{name} is this hub: stopping it here would leave no button to start it "
                          "again. Use docker compose stop hub on the host.", "warn")
        info = getattr(ctx.docker, action)(name)
    except NotAllowed as exc:
        return notice(exc.user_message(), "warn")
    except Exception as exc:  # noqa: BLE001
        return notice(describe_error(exc), "error")
    return notice(f"{action.capitalize()} {name} (by {who}): now {info.state}"
                  + (f", {info.health}" if info.health else "") + ".", "ok")


def log_view(ctx: HubContext, which: str | None, name: str | None, text: str | None,
             count) -> tuple[str, str]:
    """(the last `count` lines of a container's or local service's log, optionally only those
    containing `text` (any case), and a sentence saying what is shown)."""
    if not name:
        return "", notice("Choose a service first.", "info")
    count = int(count or LOG_LINES)
    if count < 1:
        return "", notice("Ask for at least one line.", "warn")
    try:
        if which == "docker":
            # Filtered: the matching lines among the last 2,000, so a filter finds more than the tail.
            raw = ctx.docker.logs(name, tail=min(count, 2000) if not text else 2000)
            found = [line for line in raw.splitlines() if not text or text.lower() in line.lower()]
            body = "\n".join(found[-count:])
        else:
            body = ctx.local_services.log_tail(name, lines=count, contains=text or None)
    except Exception as exc:  # noqa: BLE001
        return "", notice(describe_error(exc), "error")
    said = (f"Last {len(body.splitlines())} lines of {name}" + (f" containing “{text}”" if text else "")
            + f", read {datetime.now(UTC):%H:%M:%S} UTC.")
    return body, notice(said if body else f"No line of {name}'s log" + (f" contains “{text}”." if text else
                                                                      " yet."), "info")


def build(ctx: HubContext, session_user: gr.State) -> TabHandles:
    gr.Markdown("What runs the system: the containers of the compose stack (through the Docker "
                "engine), or the processes `rakuten up` supervises on the embedded default; their "
                "logs; and, for containers, start, stop and restart.")
    refresh_btn = gr.Button("Refresh", size="sm", elem_id="infra-refresh")
    overview = gr.HTML(notice("Looking for a Docker engine and local services…"), elem_id="infra-services")
    mode = gr.State(None)  # "docker" | "local" | None
    gr.Markdown("### Logs")
    with gr.Row():
        service = gr.Dropdown(label="Service", choices=[], elem_id="infra-service", scale=2)
        contains = gr.Textbox(label="Only lines containing", elem_id="infra-filter", scale=2)
        lines = gr.Number(value=LOG_LINES, precision=0, minimum=10, maximum=2000, label="Last lines",
                          elem_id="infra-lines", scale=1)
        logs_btn = gr.Button("Show / refresh logs", elem_id="infra-logs-button", scale=1)
    logs = gr.Code(label="Log", language=None, interactive=False, lines=18, max_lines=30, elem_id="infra-logs")
    logs_msg = gr.HTML(elem_id="infra-logs-message")
    with gr.Group(visible=False, elem_id="infra-controls") as controls:
        gr.Markdown("### Control (containers)")
        with gr.Row():
            start_btn = gr.Button("Start", elem_id="infra-start")
            stop_btn = gr.Button("Stop", variant="stop", elem_id="infra-stop")
            restart_btn = gr.Button("Restart", elem_id="infra-restart")
        action_msg = gr.HTML(elem_id="infra-action-message")

    def read():
        """The local services when `rakuten up` runs or ran in this RAKUTEN_HOME (a developer's
        machine may also have a Docker engine, whose containers are not this system); else the
        containers of the compose stack when an engine is reachable."""
        problems = []
        try:
            html, names = local_view(ctx)
            return "local", html, names
        except ServiceUnavailable as exc:  # no state file: not the embedded default
            no_local = notice(f"No local services: {exc.reason}. {exc.hint}.", "info")
        except Exception as exc:  # noqa: BLE001
            no_local = notice(describe_error(exc), "error")
        if ctx.docker.configured:
            try:
                html, names = docker_view(ctx)
                return "docker", html, names
            except Exception as exc:  # noqa: BLE001 - said below
                problems.append(notice(describe_error(exc), "warn"))
        return None, "".join(problems) + no_local, []

    def refresh(current=None):
        which, html, names = read()
        value = current if current in names else (names[0] if names else None)
        return which, html, gr.update(choices=names, value=value), gr.update(visible=which == "docker")

    outputs = [mode, overview, service, controls]
    refresh_btn.click(refresh, [service], outputs, api_visibility="private")

    def show_logs(which, name, text, count):
        return log_view(ctx, which, name, text, count)

    logs_btn.click(show_logs, [mode, service, contains, lines], [logs, logs_msg], api_visibility="private")
    contains.submit(show_logs, [mode, service, contains, lines], [logs, logs_msg], api_visibility="private")

    def act(action: str):
        def run(user, which, name, request: gr.Request):
            return container_action(ctx, action, user, which, name, request)
        run.__name__ = f"container_{action}"
        return run

    for action, button in zip(ACTIONS, (start_btn, stop_btn, restart_btn)):
        button.click(act(action), [session_user, mode, service], [action_msg], concurrency_limit=1,
                     concurrency_id="control", api_visibility="private").then(
            refresh, [service], outputs, api_visibility="private")
    return TabHandles(refresh, [service], outputs)
