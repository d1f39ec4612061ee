"""``SharedTokenCache`` with a fake clock: one fetch per lifetime, single-flight, targeted invalidation."""

from __future__ import annotations

from typing import Any

import pytest

from reliable_api.exceptions import ConfigurationError, ServerError
from reliable_api.http.oauth2 import OAuth2Settings, SharedTokenCache, Token
from reliable_api.http.shared_state import MemoryState

SETTINGS = OAuth2Settings(
    conn_id="crm", token_url="https://auth.example/token", client_id="c", client_secret="s"
)


class Endpoint:
    """Issues ``t1``, ``t2``, ... living ``lifetime`` seconds on a clock the test moves."""

    def __init__(self, lifetime: float = 100.0, prefix: str = "t") -> None:
        self.now = 0.0
        self.prefix = prefix
        self.lifetime = lifetime
        self.issued: list[str | None] = []
        self.fail = False

    def fetch(self, refresh_token: str | None) -> Token:
        if self.fail:
            raise ServerError("token endpoint down", status=503)
        self.issued.append(refresh_token)
        return Token(f"{self.prefix}{len(self.issued)}", self.now + self.lifetime, f"r{len(self.issued)}")

    def cache(self, store: MemoryState) -> SharedTokenCache:
        return SharedTokenCache(SETTINGS, store, self.fetch, clock=lambda: self.now, sleep=self.wait)

    def wait(self, seconds: float) -> None:
        self.now += seconds


def test_workers_share_one_token_until_shortly_before_it_ends() -> None:
    endpoint, store = Endpoint(), MemoryState()
    first, second = endpoint.cache(store), endpoint.cache(store)
    assert [first.token(), second.token(), first.token()] == ["t1", "t1", "t1"]
    endpoint.now = 89.0
    assert second.token() == "t1"  # 11% of the lifetime left
    endpoint.now = 91.0  # under 10% left: refresh
    assert (second.token(), first.token()) == ("t2", "t2")
    assert endpoint.issued == [None, "r1"]  # the rotated refresh token went with the next fetch


def test_while_one_worker_refreshes_the_others_use_the_live_token() -> None:
    endpoint, store = Endpoint(), MemoryState()
    first, second = endpoint.cache(store), endpoint.cache(store)
    first.token()
    endpoint.now = 95.0
    action, _ = store.update(first.key, lambda state: first._plan(state, 95.0))
    assert action == "refresh"  # first holds the lease now, and fetches
    assert second.token() == "t1"  # still alive: no second fetch
    assert endpoint.issued == [None]


def test_a_401_drops_only_the_token_it_was_sent_with() -> None:
    endpoint, store = Endpoint(), MemoryState()
    cache = endpoint.cache(store)
    cache.token()
    cache.invalidate("t1")
    assert cache.token() == "t2"
    cache.invalidate("t1")  # a late 401 for the old token: the new one stays
    assert cache.token() == "t2"
    assert len(endpoint.issued) == 2


def test_a_failed_fetch_frees_the_lease() -> None:
    endpoint, store = Endpoint(), MemoryState()
    cache = endpoint.cache(store)
    endpoint.fail = True
    with pytest.raises(ServerError):
        cache.token()
    endpoint.fail = False
    assert cache.token() == "t1"  # no wait for a lease nobody holds


def test_the_store_holds_no_token_in_clear_and_a_new_secret_fetches_anew() -> None:
    # A token long enough that random ciphertext cannot hold it by chance (a 2-letter one could).
    endpoint, store = Endpoint(prefix="canary-access-token-"), MemoryState()
    assert endpoint.cache(store).token() == "canary-access-token-1"
    assert "canary-access-token" not in str(store._values)
    other = SharedTokenCache(
        OAuth2Settings(conn_id="crm", token_url=SETTINGS.token_url, client_id="c", client_secret="other"),
        store,
        endpoint.fetch,
        clock=lambda: endpoint.now,
    )
    # Another secret cannot read it: it fetches its own (a rotated secret).
    assert other.token() == "canary-access-token-2"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grant": "password"}, "oauth2_grant"),
        ({"token_url": "ftp://x"}, "oauth2_token_url"),
        ({"client_secret": ""}, "login and the secret as password"),
        ({"grant": "refresh_token"}, "oauth2_refresh_token"),
    ],
)
def test_bad_settings_name_the_field(changes: dict[str, str], message: str) -> None:
    values = {"conn_id": "crm", "token_url": "https://a/t", "client_id": "c", "client_secret": "s", **changes}
    with pytest.raises(ConfigurationError, match=message):
        OAuth2Settings(**values)


def test_a_token_lives_from_when_it_was_asked_for_not_from_a_slow_answer() -> None:
    import requests

    from reliable_api.http.oauth2 import fetch_token

    clock = {"now": 100.0}

    class SlowEndpoint:
        def post(self, url: str, **kwargs: object) -> requests.Response:
            clock["now"] += 2.5  # the answer comes 2.5 s after the ask (a loaded worker)
            response = requests.Response()
            response.status_code = 200
            response.headers["Content-Type"] = "application/json"
            response._content = b'{"access_token": "t1", "expires_in": 6}'
            return response

    endpoint: Any = SlowEndpoint()
    token = fetch_token(SETTINGS, None, session=endpoint, timeout=(1.0, 1.0), clock=lambda: clock["now"])
    assert token.expires_at == 106.0  # 6 s from the ask (100), not from the answer (108.5)
