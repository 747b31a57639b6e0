"""Who is signed in to the dashboards: sessions with Flask-Login on the Dash app's Flask server.

Nothing is served to a visitor without a session but the sign-in page (:mod:`dashboards.login`,
one self-contained document that needs no other route) and ``/healthz``. Every other route (the
page shell, Dash's layout, callbacks and bundles, the admin page, unknown paths) answers 401; a
browser navigating to a page (it names ``text/html``) is sent to the sign-in page instead.

Sessions are Flask's signed cookies: HttpOnly, SameSite=Lax, and Secure unless
``QOE_DASHBOARDS_SECURE_COOKIES`` is off (a Secure one is named with the ``__Host-`` prefix, so no
other host or path can plant one), lasting ``QOE_DASHBOARDS_SESSION_HOURS`` from sign-in. A session names
the user and the stamp of its password hash (:mod:`warehouse.users`), both checked on each request,
so a new password or a disabled user ends the sessions opened before.

Tenancy: a ``read`` user may be bound to one property (:mod:`warehouse.users`). The signed-in user
carries it (``current_user.property_id``, looked up with the role and stamp, so a change counts
within :data:`USER_CACHE_S`), and the pages read it with one call, :func:`viewer_property`.

Forged requests: the forms (sign-in, sign-out, the admin page) carry a random token kept in the
session and compared with :func:`hmac.compare_digest`. A cross-site form post carries no session
cookie (SameSite=Lax), so it has no token to match; that also stops a sign-in forged with the
attacker's own account. Dash's callbacks are JSON posts, which a cross-site page can send only
after a CORS preflight that this server never grants.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from flask import Flask, has_request_context, jsonify, redirect, request, session, url_for
from flask_login import LoginManager, current_user  # type: ignore[import-untyped]
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.wrappers import Response

from dashboards.data import DashboardData
from foundation.settings import Settings
from warehouse.users import DashboardUser, ensure_user, find_user

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

LOGIN_ENDPOINT = "login"
# Dash names its endpoints by their path.
PUBLIC_ENDPOINTS = frozenset({LOGIN_ENDPOINT, "/healthz"})
CSRF_FIELD = "csrf_token"
USER_CACHE_S = 5.0  # a page load makes dozens of requests; a change of a user counts within this
BOOTSTRAP_ADMIN = "admin"
_CSRF_KEY = "csrf"
_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


class NoViewerError(RuntimeError):
    """:func:`viewer_property` was called where no user is signed in."""


class SessionUser:
    """The signed-in user, as Flask-Login asks for it (``current_user``)."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, user: DashboardUser) -> None:
        self.user = user

    @property
    def property_id(self) -> str:
        """The one property this user reads; empty: every property."""
        return self.user.property_id

    def get_id(self) -> str:
        return f"{self.user.name}:{self.user.stamp}"  # names hold no ':'


def install_sessions(server: Flask, data: DashboardData) -> None:
    """Sessions, the user loader and the rule that every route but the public ones needs one."""
    _configure_cookies(server, data.settings)
    manager = LoginManager(server)
    manager.user_loader(_UserLoader(data.warehouse).load)
    server.before_request(_require_session)
    server.after_request(_secure_headers)


def signed_in() -> SessionUser | None:
    """The user of this request's session; None outside a request or without a session."""
    if not has_request_context():
        return None
    user = current_user._get_current_object()
    return user if isinstance(user, SessionUser) else None


def viewer_property() -> str:
    """The property whose data alone the signed-in viewer may see: the one filter every page
    (``dashboards.pages``) must apply to what it reads, in its layouts and callbacks.

    Returns ``""`` for a viewer of every property (an admin, or a ``read`` user bound to none), so
    the page reads all properties; otherwise the property id (``"brand-a"``), and the page must
    keep to that property's rows, whatever property the viewer picked in a filter of its own
    (a URL or a dropdown can be forged; this cannot). Looked up on each call, from the session's
    user as the store has it (:data:`USER_CACHE_S`).

    Raises :class:`NoViewerError` outside a request or without a signed-in user, rather than
    answer ``""`` (every property) for nobody: every route but the public ones needs a session
    (:func:`install_sessions`), so a page that gets here is called where no viewer is known, such
    as Dash calling a layout at start.
    """
    user = signed_in()
    if user is None:
        raise NoViewerError("no user is signed in: the viewer's property is known only in a signed-in request")
    return user.property_id


def unauthorized() -> Response:
    if _navigating():
        return redirect(url_for(LOGIN_ENDPOINT, next=local_path(request.full_path)))
    return _problem(401, "sign in at /login")


def forbidden() -> Response:
    return _problem(403, "this page is for admins")


def csrf_token() -> str:
    """This session's form token, made on first use."""
    token = session.get(_CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_CSRF_KEY] = token
    return token


def csrf_valid() -> bool:
    """Whether the posted form carries this session's token."""
    expected, sent = session.get(_CSRF_KEY), request.form.get(CSRF_FIELD)
    return isinstance(expected, str) and isinstance(sent, str) and hmac.compare_digest(expected, sent)


def local_path(target: str | None) -> str:
    """``target`` when it is a path on this server, else ``/``: a ``next`` never leads elsewhere."""
    # Browsers drop tabs and newlines from URLs ("/\t/evil.example" would become "//evil.example")
    # and read a backslash as a slash.
    if not target or any(c.isspace() or not c.isprintable() or c == "\\" for c in target):
        return "/"
    if not target.startswith("/") or target.startswith("//"):
        return "/"
    return target.removesuffix("?")


def client_address(settings: Settings) -> str:
    """The peer, or the client a trusted proxy names: the right-most X-Forwarded-For entry that is
    not a trusted proxy itself (entries left of it could be forged)."""
    peer = request.remote_addr or ""
    trusted = _networks(settings.trusted_proxies)
    if not _within(peer, trusted):
        return peer
    hops = [hop.strip() for hop in ",".join(request.headers.getlist("X-Forwarded-For")).split(",")]
    return next((hop for hop in reversed(hops) if hop and not _within(hop, trusted)), peer)


def ensure_bootstrap_admin(data: DashboardData) -> None:
    """With ``QOE_DASHBOARDS_ADMIN_PASSWORD`` set, the user ``admin`` exists with it, as an admin."""
    password = data.settings.dashboards_admin_password
    if password is None or not password.get_secret_value():
        return
    outcome = ensure_user(data.warehouse(), BOOTSTRAP_ADMIN, password.get_secret_value(), "admin", "bootstrap")
    log.info("dashboards: user %r %s from QOE_DASHBOARDS_ADMIN_PASSWORD", BOOTSTRAP_ADMIN, outcome)


class FailedSignIns:
    """Failed sign-ins per user name and client address, in this process's memory (``limits``)."""

    def __init__(self, limit: str) -> None:
        self.item: RateLimitItem | None = parse(limit) if limit.strip() else None
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, address: str, name: str) -> int | None:
        """Seconds until this name may be tried again from this address; None: it may be now."""
        if self.item is None or self.limiter.test(self.item, address, name):
            return None
        reset_at = self.limiter.get_window_stats(self.item, address, name).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def failed(self, address: str, name: str) -> None:
        if self.item is not None:
            self.limiter.hit(self.item, address, name)


class _UserLoader:
    """Sessions to users, each user looked up at most every :data:`USER_CACHE_S`."""

    def __init__(self, warehouse: Callable[[], Client]) -> None:
        self.warehouse = warehouse
        self.lock = threading.Lock()
        self.cache: dict[str, tuple[float, DashboardUser | None]] = {}

    def load(self, session_id: str) -> SessionUser | None:
        name, _, stamp = session_id.rpartition(":")
        user = self._find(name)
        if user is None or user.disabled or not hmac.compare_digest(user.stamp, stamp):
            return None
        return SessionUser(user)

    def _find(self, name: str) -> DashboardUser | None:
        now = time.monotonic()
        with self.lock:
            cached = self.cache.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        user = find_user(self.warehouse(), name)
        with self.lock:
            self.cache[name] = (now + USER_CACHE_S, user)
        return user


def _configure_cookies(server: Flask, settings: Settings) -> None:
    secure = settings.dashboards_secure_cookies
    server.secret_key = _secret_key(settings)
    server.config.update(
        SESSION_COOKIE_NAME="__Host-qoe-dashboards" if secure else "qoe-dashboards",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.dashboards_session_hours),
        # Re-signed only when it changes: a session lasts its lifetime from sign-in, however busy.
        SESSION_REFRESH_EACH_REQUEST=False,
        # Sessions never use Flask-Login's remember cookie; were one ever set, it would be as safe.
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_SAMESITE="Lax",
    )


def _secret_key(settings: Settings) -> bytes:
    key = settings.dashboards_secret_key
    if key is not None and key.get_secret_value():
        return key.get_secret_value().encode()
    log.warning(
        "QOE_DASHBOARDS_SECRET_KEY is not set: sessions are signed with a random key of this process, so they "
        "end when it restarts (and another replica cannot read them)"
    )
    return secrets.token_bytes(32)


def _require_session() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS or signed_in() is not None:
        return None
    return unauthorized()


def _secure_headers(response: Response) -> Response:
    for name, value in _HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _navigating() -> bool:
    # A browser loading a page names text/html; probes and scripts send */*, and get the 401 they
    # can act on. Dash's own routes (/_dash-layout, ...) are never a page, whatever they accept.
    if request.method != "GET" or request.path.startswith("/_"):
        return False
    return any(mime == "text/html" for mime, _ in request.accept_mimetypes)


def _problem(status: int, detail: str) -> Response:
    response = jsonify({"detail": detail})
    response.status_code = status
    return response


@lru_cache(maxsize=8)
def _networks(cidrs: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs.split(",") if cidr.strip())


def _within(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
