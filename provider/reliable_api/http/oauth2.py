"""OAuth2 bearer tokens for ``reliable_http`` connections, fetched once per lifetime for all workers.

Grants: ``client_credentials`` (the connection's login and password are the client id and
secret) and ``refresh_token`` (a refresh token in the connection; a rotated one is kept). The
token lives in the connection's shared state (:mod:`reliable_api.http.shared_state`, the
limiter's backend), encrypted with a key derived from the client secret, which only holders of
the connection have: the store, a dump of it or the state DB never hold it in clear. It is
registered with Airflow's secrets masker before any use, so a log line cannot show it.

Refresh is single-flight: the worker that finds the token about to expire (within
``refresh_margin`` of its end) takes a short lease in the shared state and fetches; the others
keep using the current token while it lives, or wait for the new one. A 401 from the API
invalidates the token it was sent with and the request goes again once with a fresh one.

The token endpoint's answers: 400/401 (a wrong secret, a revoked refresh token) raise
:class:`~reliable_api.exceptions.AuthenticationError` naming the connection at once, with no
retry storm; 5xx and timeouts are transient; a form-encoded answer is read too; an answer
without ``expires_in`` gets :data:`DEFAULT_LIFETIME`, logged.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import requests
from requests.auth import AuthBase

from reliable_api.exceptions import AuthenticationError, ConfigurationError, NetworkError, ServerError

if TYPE_CHECKING:
    from reliable_api.http.shared_state import SharedState, State

log = logging.getLogger(__name__)

GRANTS = ("client_credentials", "refresh_token")
#: Seconds a token is used when the endpoint does not say (no ``expires_in``).
DEFAULT_LIFETIME = 300.0
#: How long one worker may take to fetch a token before another takes over.
LEASE_SECONDS = 30.0


@dataclass(frozen=True)
class OAuth2Settings:
    """How a connection gets its tokens.

    :param conn_id: the connection, named in errors.
    :param token_url: the token endpoint.
    :param client_id: the client id (the connection's login).
    :param client_secret: the client secret (the connection's password).
    :param grant: ``client_credentials`` or ``refresh_token``.
    :param refresh_token: the refresh token of the ``refresh_token`` grant.
    :param scope: the scope to ask for, if any.
    :raises ConfigurationError: naming the setting that is missing or wrong.
    """

    conn_id: str
    token_url: str
    client_id: str
    client_secret: str
    grant: str = "client_credentials"
    refresh_token: str | None = None
    scope: str | None = None

    def __post_init__(self) -> None:
        if self.grant not in GRANTS:
            raise ConfigurationError(f"oauth2_grant must be one of {', '.join(GRANTS)}, got {self.grant!r}")
        if not self.token_url.startswith(("https://", "http://")):
            raise ConfigurationError("oauth2_token_url must be an http(s) URL")
        if not self.client_id or not self.client_secret:
            raise ConfigurationError(
                f"connection {self.conn_id!r}: OAuth2 needs the client id as login and the secret as password"
            )
        if self.grant == "refresh_token" and not self.refresh_token:
            raise ConfigurationError("oauth2_grant 'refresh_token' needs oauth2_refresh_token")


@dataclass(frozen=True)
class Token:
    """An access token, when it ends (epoch seconds), and a rotated refresh token, if any."""

    access_token: str
    expires_at: float
    refresh_token: str | None = None


def fetch_token(
    settings: OAuth2Settings,
    refresh_token: str | None,
    *,
    session: requests.Session,
    timeout: tuple[float, float],
    clock: Callable[[], float] = time.time,
) -> Token:
    """Ask the token endpoint for a token.

    :raises AuthenticationError: for a 400/401 answer, naming the connection.
    :raises ServerError: for a 5xx answer; :raises NetworkError: when it cannot be reached.
    :raises ConfigurationError: for an answer without an access token.
    """
    form = {"grant_type": settings.grant}
    if settings.grant == "refresh_token":
        form["refresh_token"] = refresh_token or settings.refresh_token or ""
    if settings.scope:
        form["scope"] = settings.scope
    where = f"the token endpoint of connection {settings.conn_id!r}"
    # The token's life runs from when the endpoint issued it: counted from the ask, a slow answer
    # (a loaded worker, a slow endpoint) cannot leave the token looking alive after it expired.
    asked = clock()
    try:
        response = session.post(
            settings.token_url,
            data=form,
            auth=(settings.client_id, settings.client_secret),
            headers={"Accept": "application/json"},
            timeout=timeout,
        )
    except requests.RequestException as error:
        raise NetworkError(f"{where} could not be reached: {type(error).__name__}") from None
    if response.status_code >= 500:
        raise ServerError(f"{where} failed", status=response.status_code, method="POST")
    answer = _read(response)
    if response.status_code >= 400:
        code = answer.get("error") if isinstance(answer.get("error"), str) else None
        raise AuthenticationError(
            f"{where} refused the credentials ({response.status_code} {code or 'error'}): check the "
            "client id, secret and refresh token of the connection",
            status=response.status_code,
            method="POST",
        )
    access = answer.get("access_token")
    if not isinstance(access, str) or not access:
        raise ConfigurationError(f"{where} answered without an access_token")
    mask(access)
    try:
        lifetime = float(answer["expires_in"])
    except (KeyError, TypeError, ValueError):
        log.warning(
            "%s gave no usable expires_in: the token is used for %.0f s, then fetched again",
            where,
            DEFAULT_LIFETIME,
        )
        lifetime = DEFAULT_LIFETIME
    rotated = answer.get("refresh_token")
    if isinstance(rotated, str) and rotated:
        mask(rotated)
    return Token(access, asked + lifetime, rotated if isinstance(rotated, str) and rotated else None)


def _read(response: requests.Response) -> Mapping[str, Any]:
    """The answer as JSON, or as a form (``a=1&b=2``, which some endpoints send); else empty."""
    try:
        body = response.json()
        return body if isinstance(body, Mapping) else {}
    except ValueError:
        return dict(parse_qsl(response.text))


def mask(secret: str) -> None:
    """Register ``secret`` with Airflow's secrets masker, so no log line shows it."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # outside Airflow (the sandbox's own tests): nothing logs it
        return
    mask_secret(secret)


class SharedTokenCache:
    """One connection's token in its shared state, encrypted, refreshed by one worker at a time.

    :param settings: how to get tokens.
    :param store: the connection's shared state.
    :param fetch: gets a new token given the current refresh token (:func:`fetch_token`).
    :param clock: wall-clock seconds, shared by the workers.
    :param sleep: waits for another worker's refresh.
    """

    def __init__(
        self,
        settings: OAuth2Settings,
        store: SharedState,
        fetch: Callable[[str | None], Token],
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from cryptography.fernet import Fernet

        self.settings = settings
        self.store = store
        self.fetch = fetch
        self.clock = clock
        self.sleep = sleep
        self.key = f"oauth2:{settings.conn_id}"
        secret = f"reliable_api oauth2\x1f{settings.token_url}\x1f{settings.client_secret}".encode()
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(secret).digest()))

    def token(self) -> str:
        """A live access token: the shared one, or a new one fetched by this worker or another."""
        while True:
            now = self.clock()
            action, state = self.store.update(self.key, partial(self._plan, now=now))
            if action == "use":
                token = self._open(state["token"])
                if token is not None:
                    return token
                self._drop(state["token"])  # sealed under another secret (rotated): fetch anew
                continue
            if action == "refresh":
                return self._refresh(state)
            self.sleep(0.05)  # another worker is fetching and the current token is gone

    def invalidate(self, access_token: str) -> None:
        """The API refused ``access_token`` (401): drop it, unless a newer one replaced it already."""
        self._drop_where("fingerprint", _fingerprint(access_token))

    def _drop(self, sealed: str) -> None:
        self._drop_where("token", sealed)

    def _drop_where(self, name: str, value: str) -> None:
        def drop(state: State | None) -> tuple[None, State | None]:
            if state and state.get(name) == value:
                return None, {**state, "expires_at": 0.0}
            return None, None

        self.store.update(self.key, drop)

    def _plan(self, state: State | None, now: float) -> tuple[tuple[str, State], State | None]:
        state = state or {}
        expires_at = float(state.get("expires_at", 0.0))
        live = "token" in state and now < expires_at
        margin = min(60.0, max(1.0, 0.1 * float(state.get("lifetime", 0.0))))
        if live and now < expires_at - margin:
            return ("use", state), None
        if float(state.get("lease_until", 0.0)) <= now:  # nobody is fetching: this worker does
            leased = {**state, "lease_until": now + LEASE_SECONDS}
            return ("refresh", leased), leased
        return ("use", state) if live else ("wait", state), None

    def _refresh(self, state: State) -> str:
        current = self._open(state["refresh"]) if state.get("refresh") else None
        try:
            token = self.fetch(current)
        except BaseException:
            self.store.update(self.key, lambda old: (None, {**(old or {}), "lease_until": 0.0}))
            raise
        now = self.clock()
        new: State = {
            "token": self._seal(token.access_token),
            "fingerprint": _fingerprint(token.access_token),
            "expires_at": token.expires_at,
            "lifetime": token.expires_at - now,
            "lease_until": 0.0,
        }
        refresh = token.refresh_token or current
        if refresh:
            new["refresh"] = self._seal(refresh)
        self.store.update(self.key, lambda old: (None, new))
        return token.access_token

    def _seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def _open(self, sealed: str) -> str | None:
        """The secret sealed by :meth:`_seal`; ``None`` when another key sealed it."""
        from cryptography.fernet import InvalidToken

        try:
            secret = self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            return None
        mask(secret)
        return secret


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class OAuth2Auth(AuthBase):
    """``requests`` auth: the shared bearer token on every request; a 401 is retried once, fresh.

    :param cache: the connection's token cache.
    """

    def __init__(self, cache: SharedTokenCache) -> None:
        self.cache = cache
        self._retries: weakref.WeakSet[requests.PreparedRequest] = weakref.WeakSet()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the token; watch the answer for a 401."""
        request.headers["Authorization"] = f"Bearer {self.cache.token()}"
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        sent = response.request
        if response.status_code != 401 or sent in self._retries:
            return response
        used = str(sent.headers.get("Authorization", "")).removeprefix("Bearer ")
        self.cache.invalidate(used)
        again = sent.copy()
        again.headers["Authorization"] = f"Bearer {self.cache.token()}"
        self._retries.add(again)  # once only
        response.close()
        retried: requests.Response = response.connection.send(again, **kwargs)
        retried.history.append(response)
        retried.request = again
        return retried
