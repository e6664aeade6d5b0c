"""The hub's login is a real gate (issue 13): sign-in through the hub's own route sets a signed
HttpOnly SameSite=Strict cookie; control handlers accept that cookie and nothing else (per-session
state, reachable by whoever holds a session_hash, no longer counts); wrong passwords slow their
caller on asyncio.sleep without freezing anyone else; repeated failures lock the user out."""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx
import pytest

from gradio_hub import auth
from rakuten_assets.core.settings import Settings
from tests.support.hub import (
    CHROMIUM,
    CHROMIUM_ARGS,
    artifact_dir,
    launch_hub,
    require_chromium,
)


class FakeRequest:
    def __init__(self, cookies=None, username=None):
        self.cookies = cookies or {}
        self.username = username


def test_control_handlers_accept_the_cookie_and_nothing_else():
    gate = auth.Gate(Settings(hub_users="alice:pa:ss"))
    cookie = gate.session_cookie("alice")
    assert gate.require(None, FakeRequest({auth.COOKIE: cookie}), "promotion") == "alice"
    # The attack: a client holding a signed-in session's hash (so its per-session state says
    # "alice") but no cookie.
    with pytest.raises(auth.NotAllowed, match="Sign in first"):
        gate.require("alice", FakeRequest(), "promotion")
    # Variants: a forged or altered cookie, another hub process's cookie, a user since removed.
    issued, user_hex, mac = cookie.split(".")
    forged = [f"{issued}.{'mallory'.encode().hex()}.{mac}", cookie[:-2] + "00", "alice",
              auth.Gate(Settings(hub_users="alice:pa:ss")).session_cookie("alice")]
    for value in forged:
        with pytest.raises(auth.NotAllowed):
            gate.require("alice", FakeRequest({auth.COOKIE: value}))
    assert auth.Gate(Settings(hub_users="bob:x")).user_from_cookie(cookie) is None
    # Gradio's own login page (RAKUTEN_HUB_PROTECT_ALL) is a real credential too.
    assert gate.require(None, FakeRequest(username="alice")) == "alice"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    from tests.support.env import project_home

    root = tmp_path_factory.mktemp("hub_gate")
    with project_home(root, RAKUTEN_HUB_USERS="alice:wonder land,bob:the builder") as settings:
        demo, url = launch_hub(settings)
        try:
            yield demo, url
        finally:
            demo.close()


@pytest.fixture
def fresh_hub(hub):
    """The module's hub with no failed sign-in counted yet, whatever ran before."""
    hub[0].hub_context.gate._failures.clear()
    return hub


def test_sign_in_sets_a_signed_httponly_strict_cookie(fresh_hub):
    _, url = fresh_hub
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/hub-auth/me").json() == {"user": None}
        wrong = client.post("/hub-auth/sign-in", json={"user": "alice", "password": "nope"})
        assert wrong.status_code == 401 and auth.COOKIE not in wrong.cookies
        ok = client.post("/hub-auth/sign-in", json={"user": "alice", "password": "wonder land"})
        assert ok.status_code == 200 and ok.json()["user"] == "alice"
        header = ok.headers["set-cookie"].lower()
        assert "httponly" in header and "samesite=strict" in header
        assert client.get("/hub-auth/me").json() == {"user": "alice"}
        client.post("/hub-auth/sign-out")
        assert client.get("/hub-auth/me").json() == {"user": None}
    assert httpx.post(url + "/hub-auth/sign-in", content=b"not json", timeout=30).status_code == 400


def test_wrong_passwords_do_not_freeze_the_hub_and_lock_out(fresh_hub, monkeypatch):
    _, url = fresh_hub
    monkeypatch.setattr(auth, "FAILED_LOGIN_DELAY_S", 3.0)
    order: list[str] = []

    async def scenario():
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            async def guess(i):
                r = await client.post("/hub-auth/sign-in", json={"user": f"eve{i}", "password": "x"})
                order.append(f"guess:{r.status_code}")

            guesses = [asyncio.ensure_future(guess(i)) for i in range(4)]
            await asyncio.sleep(0.3)  # the guesses are now sleeping on the server
            page = await client.get("/hub-auth/me")  # anyone else is served meanwhile
            order.append(f"other:{page.status_code}")
            await asyncio.gather(*guesses)

    asyncio.run(scenario())
    # The other request finished before any wrong guess (each held 3 s on the server); with the
    # old time.sleep in the event loop it came after all of them.
    assert order[0] == "other:200" and order[1:] == ["guess:401"] * 4
    monkeypatch.setattr(auth, "FAILED_LOGIN_DELAY_S", 0.0)
    with httpx.Client(base_url=url, timeout=30) as client:
        # This client made 4 failures above; one more reaches LOCKOUT_AFTER = 5...
        assert client.post("/hub-auth/sign-in", json={"user": "alice", "password": "?"}).status_code == 401
        locked = client.post("/hub-auth/sign-in", json={"user": "alice", "password": "wonder land"})
        # ...and then even the right password is refused until the lockout ends.
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.json()["message"]


def test_guesses_from_many_clients_lock_the_user_out_and_no_one_else(fresh_hub, monkeypatch):
    """The per-client lockout alone lets a botnet guess on: each address stays under
    LOCKOUT_AFTER. The gate also counts failures per user, whoever sends them (it keys clients
    on the connection's address, so each guesser here connects from its own loopback address)."""
    _, url = fresh_hub
    monkeypatch.setattr(auth, "FAILED_LOGIN_DELAY_S", 0.0)

    def client_at(n: int) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{n}")
        return httpx.Client(base_url=url, timeout=30, transport=transport)

    def sign_in(n: int, user: str, password: str) -> httpx.Response:
        with client_at(n) as client:
            return client.post("/hub-auth/sign-in", json={"user": user, "password": password})

    # The attack: one guess at alice's password from each of LOCKOUT_AFTER addresses.
    for n in range(2, 2 + auth.LOCKOUT_AFTER):
        assert sign_in(n, "alice", f"guess{n}").status_code == 401
    guessers = {f"client:127.0.0.{n}" for n in range(2, 2 + auth.LOCKOUT_AFTER)}
    assert guessers <= set(fresh_hub[0].hub_context.gate._failures)  # the addresses were distinct
    # alice is locked out wherever she signs in from, with her right password too...
    for n in (2, 2 + auth.LOCKOUT_AFTER + 1):
        locked = sign_in(n, "alice", "wonder land")
        assert locked.status_code == 429 and "Too many failed sign-ins" in locked.json()["message"]
        assert auth.COOKIE not in locked.cookies
    # ...while bob signs in, from a fresh address and from one of the guessers' alike: the
    # guessers' addresses made one failure each, far from a lockout of their own.
    for n in (2 + auth.LOCKOUT_AFTER + 2, 2):
        ok = sign_in(n, "bob", "the builder")
        assert ok.status_code == 200 and ok.json()["user"] == "bob" and ok.cookies[auth.COOKIE]
    # Variant: the guesses spread over other users' names leave alice alone.
    fresh_hub[0].hub_context.gate._failures.clear()
    for n in range(2, 2 + auth.LOCKOUT_AFTER):
        assert sign_in(n, f"mallory{n}", "x").status_code == 401
    assert sign_in(2 + auth.LOCKOUT_AFTER + 1, "alice", "wonder land").status_code == 200


def test_sign_in_from_the_page(tmp_path_factory):
    """The Sign in box posts to the route; the page then says who is signed in, and the cookie
    is out of the page's JavaScript."""
    require_chromium()  # skips outside CI when Debian's chromium is missing, fails in CI
    from playwright import sync_api

    from tests.support.env import project_home

    root = tmp_path_factory.mktemp("hub_gate_page")
    with project_home(root, RAKUTEN_HUB_USERS="alice:wonder land") as settings:
        demo, url = launch_hub(settings)
        try:
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page()
                page.goto(url, wait_until="domcontentloaded")
                page.locator("#hub-sign-in").get_by_text("Sign in").first.click()
                page.locator("#hub-username textarea, #hub-username input").first.fill("alice")
                page.locator("#hub-password input").first.fill("wrong")
                page.locator("#hub-sign-in-button").click()
                page.wait_for_function("() => document.getElementById('hub-auth-status')"
                                       ".innerText.includes('Wrong user or password')", timeout=60_000)
                page.locator("#hub-password input").first.fill("wonder land")
                page.locator("#hub-sign-in-button").click()
                page.wait_for_function("() => document.getElementById('hub-auth-status')"
                                       ".innerText.includes('Signed in as alice')", timeout=60_000)
                page.screenshot(path=str(artifact_dir() / "gate-signed-in.png"))
                cookie = next(c for c in page.context.cookies() if c["name"] == auth.COOKIE)
                assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
                assert auth.COOKIE not in page.evaluate("document.cookie")
                browser.close()
        finally:
            demo.close()


def test_direct_run_is_closed_even_by_fn_index(hub):
    """/gradio_api/run ran any handler named by fn_index, private ones included (issue 13)."""
    demo, url = hub
    private = [i for i, fn in demo.fns.items() if fn.api_visibility == "private"]
    assert private
    for body in ({"data": [], "fn_index": private[0]}, {"data": []}):
        r = httpx.post(url + "/gradio_api/run/predict", json=body, timeout=30)
        assert r.status_code == 404, r.text


def _fn_index(demo, name: str, module: str | None = None) -> int:
    return next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", None) == name
                and (module is None or fn.fn.__module__ == module))


def run_event(client: httpx.Client, session_hash: str, fn_index: int, data: list) -> dict:
    """One event through Gradio's queue, as the page sends it: join, then read the session's
    server-sent events until this event completes; returns the completion message."""
    joined = client.post("/gradio_api/queue/join", json={
        "data": data, "fn_index": fn_index, "session_hash": session_hash, "event_data": None})
    assert joined.status_code == 200, joined.text
    event_id = joined.json()["event_id"]
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": session_hash}) as r:
        for line in r.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("event_id") == event_id and message.get("msg") == "process_completed":
                return message
    raise AssertionError(f"event {event_id} never completed")


def test_a_signed_in_session_hash_replayed_without_the_cookie_runs_nothing(tmp_path_factory):
    """The attack (issue 13), over HTTP: alice signs in and asks to promote version 2, so her
    session (per-session state, found by session_hash) holds user=alice and the pending move.
    A client with her session_hash and no cookie joins the queue for Confirm: the handler
    answers "Sign in first" and the alias does not move; alice's own Confirm in that session,
    with her cookie, then moves it."""
    from gradio_hub.clients.registry import RegistryReader
    from gradio_hub.clients.store import StoreReader
    from tests.support.env import project_home
    from tests.support.models import register_version

    root = tmp_path_factory.mktemp("hub_replay")
    with project_home(root, RAKUTEN_HUB_USERS="alice:wonder land") as settings:
        champion = register_version(settings)
        candidate = register_version(settings, alias=False)
        registry = RegistryReader(settings, StoreReader(settings))
        demo, url = launch_hub(settings)
        try:
            training = "gradio_hub.tabs.training"
            session = secrets.token_hex(6)
            with httpx.Client(base_url=url, timeout=120) as alice:
                signed = alice.post("/hub-auth/sign-in", json={"user": "alice", "password": "wonder land"})
                assert signed.status_code == 200
                # The page's events in alice's session: sign-in display, the Training tab, Promote.
                run_event(alice, session, _fn_index(demo, "after_sign_in"), ["alice", ""])
                run_event(alice, session, _fn_index(demo, "refresh", training), [])
                asked = run_event(alice, session, _fn_index(demo, "ask_promote", training),
                                  [None, candidate, "replay test"])
                assert asked["success"] and "Promote version" in json.dumps(asked["output"]), asked
                confirm = _fn_index(demo, "confirm", training)
                user_state, pending_state = (block._id for block in demo.fns[confirm].inputs)
                state = demo.server_app.state_holder[session]
                # What Confirm would run in this session, whoever sends it.
                assert state[user_state] == "alice" and state[pending_state]["version"] == candidate

                # The attacker: alice's session_hash, no cookie, Confirm's fn_index.
                with httpx.Client(base_url=url, timeout=120) as mallory:
                    assert auth.COOKIE not in mallory.cookies
                    replay = run_event(mallory, session, confirm, [None, None])
                text = json.dumps(replay["output"])
                assert "Sign in first" in text and "Done:" not in text, replay
                assert registry.rollback_target()[0] == champion  # the alias did not move
                # Nor could the refused caller clear alice's pending move.
                assert state[pending_state]["version"] == candidate
                # Variants: a tampered copy of alice's cookie on Confirm, no cookie on Promote.
                ask_promote = _fn_index(demo, "ask_promote", training)
                forged = alice.cookies[auth.COOKIE][:-2] + "00"
                with httpx.Client(base_url=url, timeout=120, cookies={auth.COOKIE: forged}) as mallory:
                    assert "Sign in first" in json.dumps(run_event(mallory, session, confirm, [None, None]))
                with httpx.Client(base_url=url, timeout=120) as mallory:
                    asked_again = run_event(mallory, session, ask_promote, [None, candidate, "replay"])
                    assert "Sign in first" in json.dumps(asked_again["output"])
                assert registry.rollback_target()[0] == champion
                assert state[pending_state]["version"] == candidate

                # alice, with her cookie, in the same session, confirms the move she asked for.
                done = run_event(alice, session, confirm, [None, None])
                assert "Done:" in json.dumps(done["output"]), done
                assert registry.rollback_target()[0] == candidate
        finally:
            demo.close()
