"""The OAuth2 auth of a ``reliable_http`` connection (see :mod:`reliable_api.http.oauth2`)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reliable_api.http.oauth2 import OAuth2Auth
    from reliable_api.http.settings import HttpSettings


def connection_auth(conn_id: str, settings: HttpSettings) -> OAuth2Auth | None:
    """Bearer tokens for ``conn_id``, shared by every worker; ``None`` without ``oauth2_token_url``.

    :raises ConfigurationError: naming what the connection lacks (client id, secret, refresh token).
    """
    if not settings.oauth2_token_url:
        return None
    import requests
    from airflow.providers.http.hooks.http import HttpHook

    from reliable_api.hooks.breaker import connection_state
    from reliable_api.http.oauth2 import OAuth2Auth, OAuth2Settings, SharedTokenCache, fetch_token

    conn = HttpHook.get_connection(conn_id)
    oauth = OAuth2Settings(
        conn_id=conn_id,
        token_url=settings.oauth2_token_url,
        client_id=conn.login or "",
        client_secret=conn.password or "",
        grant=settings.oauth2_grant,
        refresh_token=settings.oauth2_refresh_token,
        scope=settings.oauth2_scope,
    )
    fetch = partial(
        fetch_token,
        oauth,
        session=requests.Session(),
        timeout=(settings.connect_timeout, settings.read_timeout),
    )
    return OAuth2Auth(SharedTokenCache(oauth, connection_state(settings), fetch))
