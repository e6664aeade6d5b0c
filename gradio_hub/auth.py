"""Who may use the control actions (ingest, materialise, promote, roll back).

`RAKUTEN_HUB_USERS="alice:secret,bob:other"` turns the login on: viewing stays open, every
control action checks, on the server, that the session signed in (or that Gradio's own login
page let the user in, with `RAKUTEN_HUB_PROTECT_ALL=true`). Unset, control actions are open, as
suits the single-user embedded default.
"""

from __future__ import annotations

import hmac
import logging
import time

from rakuten_assets.core.settings import Settings

log = logging.getLogger("gradio_hub.auth")
FAILED_LOGIN_DELAY_S = 1.0
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

    @property
    def enabled(self) -> bool:
        return bool(self.users)

    def check(self, username: str, password: str) -> bool:
        """Constant-time comparison; every unknown user costs as much as a known one."""
        username = (username or "").strip()
        expected = self.users.get(username, "\0" * 16)
        ok = hmac.compare_digest(expected.encode(), (password or "").encode()) and username in self.users
        if not ok:
            log.warning("hub: failed sign-in for %r", username)
            time.sleep(FAILED_LOGIN_DELAY_S)  # slows guessing down
        return ok

    def gradio_auth(self):
        """For `launch(auth=...)` when the whole hub is protected."""
        return self.check if self.protect_all else None

    def require(self, session_user: str | None, request=None, action: str = "this action") -> str:
        """The user allowed to run a control action, or NotAllowed with what to do."""
        if not self.enabled:
            return OPEN_USER
        if session_user and session_user in self.users:
            return session_user
        page_user = getattr(request, "username", None) if request is not None else None
        if page_user and page_user in self.users:
            return page_user
        raise NotAllowed(f"Sign in first: {action} is a control action and needs a login "
                         "(RAKUTEN_HUB_USERS is set). Use the 'Sign in' box at the top of the page.")
