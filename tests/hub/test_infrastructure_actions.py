"""The Infrastructure tab's container actions and container log filter, against a stand-in engine
(the real Docker engine is driven by tests/hub/test_docker_client.py and the compose test)."""

from __future__ import annotations

from types import SimpleNamespace

from gradio_hub.auth import NotAllowed
from gradio_hub.clients.docker import ContainerInfo
from gradio_hub.tabs.infrastructure import container_action, log_view

# A container's output as the engine gives it (timestamps first): 3,000 lines, every 100th an error.
LOG = [f"2026-01-01T00:00:{i % 60:02d}.000Z api {'ERROR db gone' if i % 100 == 99 else 'GET /health 200'} #{i}"
       for i in range(3000)]


class Engine:
    def __init__(self):
        self.calls: list[tuple] = []
        self.infos = {"hub": dict(is_self=True), "api": dict(is_self=False)}

    def container(self, name):
        return ContainerInfo(id=name * 8, name=f"stack-{name}-1", service=name, project="stack",
                             image="img", state="running", health="healthy", started_at=None,
                             finished_at=None, restart_count=0, exit_code=None, **self.infos[name])

    def logs(self, name, tail=200):
        """The last `tail` lines, at most 2,000, as the real client caps them."""
        self.calls.append(("logs", name, tail))
        return "\n".join(LOG[-min(tail, 2000):]) + "\n"

    def _act(self, action, name):
        self.calls.append((action, name))
        return self.container(name)

    def start(self, name):
        return self._act("start", name)

    def stop(self, name):
        return self._act("stop", name)

    def restart(self, name):
        return self._act("restart", name)


class Gate:
    def __init__(self, allowed: bool):
        self.allowed = allowed

    def require(self, user, request, action):
        if not self.allowed:
            raise NotAllowed(f"Sign in first: {action} is a control action.")
        return user


def context(allowed=True):
    return SimpleNamespace(docker=Engine(), gate=Gate(allowed))


def test_each_button_does_what_its_label_says_on_the_chosen_container():
    ctx = context()
    for action in ("restart", "stop", "start"):
        said = container_action(ctx, action, "ops", "docker", "api", None)
        assert f"{action.capitalize()} api (by ops): now running, healthy." in said
    assert ctx.docker.calls == [("restart", "api"), ("stop", "api"), ("start", "api")]


def test_the_hub_refuses_to_stop_itself_but_may_restart():
    ctx = context()
    said = container_action(ctx, "stop", "ops", "docker", "hub", None)
    assert "is this hub" in said and "docker compose stop hub" in said
    assert ctx.docker.calls == []
    container_action(ctx, "restart", "ops", "docker", "hub", None)
    assert ctx.docker.calls == [("restart", "hub")]


def test_without_a_login_nothing_is_touched():
    ctx = context(allowed=False)
    said = container_action(ctx, "stop", None, "docker", "api", None)
    assert "Sign in first" in said
    assert ctx.docker.calls == []


def test_on_the_embedded_default_there_is_nothing_to_start_or_stop():
    ctx = context()
    assert "no Docker engine here" in container_action(ctx, "stop", "ops", "local", "api", None)
    assert "Choose a service first" in container_action(ctx, "stop", "ops", "docker", "", None)
    assert ctx.docker.calls == []


def test_the_log_filter_keeps_only_the_matching_lines_of_a_container():
    ctx = context()
    body, said = log_view(ctx, "docker", "api", "error DB", 5)
    lines = body.splitlines()
    # Any case; the newest five matches, found among the last 2,000 lines, not only the last five.
    assert lines == [line for line in LOG if "ERROR db gone" in line][-5:]
    assert lines[-1].endswith("#2999") and lines[0].endswith("#2599")
    assert ctx.docker.calls == [("logs", "api", 2000)]
    assert "Last 5 lines of api containing “error DB”" in said


def test_without_a_filter_the_log_shows_its_tail():
    ctx = context()
    body, said = log_view(ctx, "docker", "api", "", 20)
    assert body.splitlines() == LOG[-20:]
    assert ctx.docker.calls == [("logs", "api", 20)]
    assert "Last 20 lines of api," in said and "containing" not in said


def test_a_filter_nothing_matches_says_so():
    body, said = log_view(context(), "docker", "api", "segfault", 50)
    assert body == "" and "No line of api&#x27;s log contains “segfault”." in said  # escaped HTML
