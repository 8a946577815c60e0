"""What makes the dashboard safe to expose: authentication, CSRF tokens, security headers.

- **Authentication** by basic credentials (``"user:password"``, compared in constant
  time) or by a callable given the request (``True`` lets it in). A refused request gets
  401 and, for basic credentials, a ``WWW-Authenticate`` challenge.
- **CSRF**: every action is a POST carrying the token of a double-submit cookie
  (``qc_csrf``, ``SameSite=Strict``, ``HttpOnly``); a POST whose form token is missing or
  differs, or whose ``Origin`` names another host, is refused with 403 before anything
  is read or changed. No action exists over GET.
- **Headers** on every response: a Content-Security-Policy with no inline script or
  style (the one script and stylesheet are files served by the dashboard),
  ``frame-ancestors 'none'``, ``Referrer-Policy: no-referrer``, ``nosniff``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import inspect
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from queue_core.errors import ValidationError

#: A user check: given the request, True lets it in (may be async).
AuthCheck = Callable[[HTTPConnection], bool | Awaitable[bool]]

CSRF_COOKIE = "qc_csrf"
CSRF_FIELD = "csrf"
REALM = "queue-core dashboard"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class Refused(Exception):
    """A request the dashboard will not serve: its status and a short reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def basic_auth(credentials: str) -> AuthCheck:
    """A check for HTTP basic credentials given as ``"user:password"``, compared in
    constant time (the password may contain ``:``)."""
    user, colon, password = credentials.partition(":")
    if not colon or not user or not password:
        raise ValidationError("auth", "<hidden>", "'user:password' with a non-empty user and password")
    wanted_user, wanted_password = user.encode(), password.encode()

    def check(connection: HTTPConnection) -> bool:
        given_user, given_password = _basic_credentials(connection)
        # Both compared every time, so the time taken tells nothing about which was wrong.
        user_ok = hmac.compare_digest(given_user, wanted_user)
        password_ok = hmac.compare_digest(given_password, wanted_password)
        return user_ok and password_ok

    check.basic = True  # type: ignore[attr-defined]
    return check


def _basic_credentials(connection: HTTPConnection) -> tuple[bytes, bytes]:
    header = connection.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return b"", b""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return b"", b""
    user, _, password = decoded.partition(b":")
    return user, password


class AuthMiddleware:
    """Lets a request through only when ``check`` accepts it."""

    def __init__(self, app: ASGIApp, check: AuthCheck) -> None:
        self.app = app
        self.check = check
        self.basic = bool(getattr(check, "basic", False))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        verdict = self.check(HTTPConnection(scope))
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is True:
            await self.app(scope, receive, send)
            return
        headers = [(b"content-type", b"text/plain; charset=utf-8"), *HEADERS]
        if self.basic:
            headers.append((b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode()))
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": b"401 Unauthorized: credentials required\n"})


class SecurityHeadersMiddleware:
    """Adds the security headers (and a CSRF cookie when the browser has none)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        token = connection.cookies.get(CSRF_COOKIE)
        fresh = None
        if not _well_formed(token):
            fresh = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["csrf"] = fresh or token

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += HEADERS
                if fresh is not None:
                    path = scope.get("root_path") or "/"
                    cookie = f"{CSRF_COOKIE}={fresh}; Path={path}; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _well_formed(token: str | None) -> bool:
    return token is not None and 20 <= len(token) <= 100 and token.replace("-", "").replace("_", "").isalnum()


async def checked_form(request: Request, *, read_only: bool) -> FormData:
    """The form of an action POST, once it passed the read-only, origin and CSRF checks
    (``Refused`` otherwise; nothing has been changed)."""
    if read_only:
        raise Refused(403, "this dashboard is read-only: no action is accepted")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise Refused(403, "the request came from another site (Origin does not match)")
    form = await request.form()
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = form.get(CSRF_FIELD)
    if not isinstance(given, str) or not cookie or not hmac.compare_digest(given.encode(), cookie.encode()):
        raise Refused(403, "the form's CSRF token is missing or wrong; reload the page and try again")
    return form
