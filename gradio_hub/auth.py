"""Who may use the control actions (ingest, materialise, promote, roll back).

`RAKUTEN_HUB_USERS="alice:secret,bob:other"` turns the login on: viewing stays open, every
control action checks, on the server, the request's sign-in cookie (or that Gradio's own login
page let the user in, with `RAKUTEN_HUB_PROTECT_ALL=true`). Unset, control actions are open, as
suits the single-user embedded default.

The credential is a signed, HttpOnly, SameSite=Strict cookie set by this module's own route
(`POST <hub>/hub-auth/sign-in`), never Gradio's session: a `session_hash` travels in URLs
(`queue/data?session_hash=`, `/heartbeat/<hash>`), and with per-session state as the credential
anyone who saw one could run control actions without a cookie (issue 13). A wrong password costs
the caller `FAILED_LOGIN_DELAY_S` on an `asyncio.sleep` (the old `time.sleep` ran in Gradio's
event loop and 30 wrong logins froze the hub for everyone), and `LOCKOUT_AFTER` failures for one
user or one client lock it out for `LOCKOUT_S`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections import defaultdict, deque

from rakuten_assets.core.settings import Settings

log = logging.getLogger("gradio_hub.auth")
FAILED_LOGIN_DELAY_S = 1.0
LOCKOUT_AFTER = 5          # failed sign-ins of one user, or from one client...
LOCKOUT_WINDOW_S = 600.0   # ...within this window...
LOCKOUT_S = 300.0          # ...lock it out this long
SESSION_MAX_AGE_S = 12 * 3600
COOKIE = "rakuten_hub_session"
OPEN_USER = "anyone"


class NotAllowed(Exception):
    def user_message(self) -> str:
        return str(self)


def parse_users(spec: str | None) -> dict[str, str]:
    """`user:password,user2:password2` -> {user: password}. A password may hold ':' but not ','."""
    users: dict[str, str] = {}
    for entry in (spec or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, password = entry.partition(":")
        if not sep or not name.strip() or not password:
            raise ValueError("RAKUTEN_HUB_USERS must look like `user:password,user2:password2` "
                             f"(an entry without user or password: {name.strip() or '?'!r})")
        users[name.strip()] = password
    return users


class Gate:
    def __init__(self, settings: Settings):
        self.users = parse_users(settings.hub_users)
        self.protect_all = bool(settings.hub_protect_all and self.users)
        # One key per hub process: a restart signs everybody out, and no secret is stored.
        self._key = secrets.token_bytes(32)
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    # --- passwords --------------------------------------------------------------------------
    def _password_ok(self, username: str, password: str) -> bool:
        """Constant-time comparison; every unknown user costs as much as a known one."""
        expected = self.users.get(username, "\0" * 16)
        return hmac.compare_digest(expected.encode(), (password or "").encode()) and username in self.users

    def check(self, username: str, password: str) -> bool:
        """For Gradio's own login page (`RAKUTEN_HUB_PROTECT_ALL`), which runs it in a worker
        thread: a failure sleeps there, not in the event loop, and counts towards the lockout."""
        username = (username or "").strip()
        if self.locked_for(username, None):
            return False
        ok = self._password_ok(username, password)
        if not ok:
            self._record_failure(username, None)
            time.sleep(FAILED_LOGIN_DELAY_S)
        return ok

    def locked_for(self, username: str, client: str | None) -> float:
        """Seconds left of a lockout of this user or client (0 when none)."""
        now = time.monotonic()
        left = 0.0
        for key in (f"user:{username}", f"client:{client}" if client else None):
            if key is None:
                continue
            window = self._failures.get(key)
            while window and now - window[0] > max(LOCKOUT_WINDOW_S, LOCKOUT_S):
                window.popleft()
            if window and len(window) >= LOCKOUT_AFTER:
                left = max(left, LOCKOUT_S - (now - window[-1]))
        return max(0.0, left)

    def _record_failure(self, username: str, client: str | None) -> None:
        now = time.monotonic()
        self._failures[f"user:{username}"].append(now)
        if client:
            self._failures[f"client:{client}"].append(now)
        log.warning("hub: failed sign-in for %r from %s", username, client or "?")

    async def sign_in(self, username: str, password: str, client: str | None) -> tuple[str | None, str]:
        """(user, message): the user when the password is right, else None and why."""
        username = (username or "").strip()
        left = self.locked_for(username, client)
        if left:
            return None, (f"Too many failed sign-ins: try again in {int(left) + 1} s.")
        if self._password_ok(username, password):
            self._failures.pop(f"user:{username}", None)
            log.info("hub: %s signed in from %s", username, client or "?")
            return username, f"Signed in as {username}."
        self._record_failure(username, client)
        await asyncio.sleep(FAILED_LOGIN_DELAY_S)  # slows this caller, nobody else
        return None, "Wrong user or password."

    # --- the cookie ---------------------------------------------------------------------------
    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), "sha256").hexdigest()

    def session_cookie(self, username: str) -> str:
        """`<issued at>.<user, hex>.<HMAC-SHA256 of both>` (the standard library's hmac)."""
        payload = f"{int(time.time())}.{username.encode().hex()}"
        return f"{payload}.{self._mac(payload)}"

    def user_from_cookie(self, value: str | None) -> str | None:
        try:
            issued, user_hex, mac = (value or "").split(".")
            if not hmac.compare_digest(mac, self._mac(f"{issued}.{user_hex}")):
                return None
            if not 0 <= time.time() - int(issued) <= SESSION_MAX_AGE_S:
                return None
            user = bytes.fromhex(user_hex).decode()
        except ValueError:  # wrong shape, not hex, not UTF-8 (UnicodeDecodeError is one)
            return None
        return user if user in self.users else None

    def user_of(self, request) -> str | None:
        """The signed-in user of a request (gr.Request or Starlette's), from its cookie or from
        Gradio's own login; None otherwise."""
        if request is None:
            return None
        cookies = getattr(request, "cookies", None) or {}
        user = self.user_from_cookie(cookies.get(COOKIE))
        if user:
            return user
        page_user = getattr(request, "username", None)
        return page_user if page_user in self.users else None

    def gradio_auth(self):
        """For `launch(auth=...)` when the whole hub is protected."""
        return self.check if self.protect_all else None

    def require(self, session_user: str | None, request=None, action: str = "this action") -> str:
        """The user allowed to run a control action, or NotAllowed with what to do. Only the
        request's own credential counts; `session_user` (per-session state, reachable by
        anyone holding the session_hash) is display only."""
        if not self.enabled:
            return OPEN_USER
        user = self.user_of(request)
        if user:
            return user
        raise NotAllowed(f"Sign in first: {action} is a control action and needs a login "
                         "(RAKUTEN_HUB_USERS is set). Use the 'Sign in' box at the top of the page.")


# --- the sign-in routes, mounted in front of Gradio's (see app.launch_options) ----------------
def gate_routes(gate: Gate) -> list:
    """POST hub-auth/sign-in (JSON {user, password}) sets the cookie; POST hub-auth/sign-out
    clears it; GET hub-auth/me says who is signed in."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def cookie_options(request: Request) -> dict:
        root = request.scope.get("root_path") or ""
        return {"httponly": True, "samesite": "strict", "path": (root or "") + "/",
                "secure": request.url.scheme == "https"}

    async def sign_in(request: Request):
        try:
            body = await request.json()
            username, password = str(body.get("user") or ""), str(body.get("password") or "")
        except Exception:  # noqa: BLE001 - any unreadable body is the same refusal
            return JSONResponse({"user": None, "message": "Send JSON {user, password}."}, 400)
        if not gate.enabled:
            return JSONResponse({"user": None, "message": "No login on this hub."}, 404)
        client = request.client.host if request.client else None
        user, message = await gate.sign_in(username[:200], password[:1000], client)
        if user is None:
            status = 429 if message.startswith("Too many") else 401
            return JSONResponse({"user": None, "message": message}, status)
        response = JSONResponse({"user": user, "message": message})
        response.set_cookie(COOKIE, gate.session_cookie(user), max_age=int(SESSION_MAX_AGE_S),
                            **cookie_options(request))
        return response

    async def sign_out(request: Request):
        response = JSONResponse({"user": None, "message": "Signed out."})
        response.delete_cookie(COOKIE, **cookie_options(request))
        return response

    async def me(request: Request):
        return JSONResponse({"user": gate.user_of(request)})

    return [Route("/hub-auth/sign-in", sign_in, methods=["POST"]),
            Route("/hub-auth/sign-out", sign_out, methods=["POST"]),
            Route("/hub-auth/me", me, methods=["GET"])]
