"""Who asks and what they may do: Airflow's auth manager decides, per DAG of each entry.

- Reading an entry needs ``GET`` on its DAG, discarding or replaying it ``PUT``; triggering the
  replay DAG needs ``POST`` on that DAG's runs, exactly what Airflow's own trigger route asks.
- An entry without a DAG (filed by a script or the CLI) belongs to no DAG a permission can name:
  it needs the same method on DAGs as a whole (the auth manager's answer without DAG details).
- Forms authenticate with the UI's cookie, which a browser also sends on a forged cross-site
  request: a POST must come from this origin *and* carry a token only a page of this app has.
  A request with an ``Authorization: Bearer`` header needs neither: browsers never add one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, HTTPException, Request, status

Method = Literal["GET", "PUT", "POST"]
#: The form field and header that carry the CSRF token.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class Access:
    """The authenticated Airflow user of a request, and how they authenticated."""

    user: BaseUser
    #: by an ``Authorization: Bearer`` header (a script), not the UI's cookie
    bearer: bool

    @property
    def name(self) -> str:
        """The user name recorded with every action."""
        return str(self.user.get_name())

    def may(self, method: Method, dag_id: str | None) -> bool:
        """Whether the user may ``method`` the entries of ``dag_id`` (``None``: of no DAG)."""
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

        details = DagDetails(id=dag_id) if dag_id else None
        return bool(get_auth_manager().is_authorized_dag(method=method, user=self.user, details=details))

    def readable(self, dag_ids: Iterable[str]) -> set[str]:
        """Those of ``dag_ids`` the user may read."""
        from airflow.api_fastapi.app import get_auth_manager

        allowed = get_auth_manager().filter_authorized_dag_ids(
            dag_ids=set(dag_ids), user=self.user, method="GET"
        )
        return set(allowed)

    def may_trigger(self, dag_id: str) -> bool:
        """Whether the user may create runs of ``dag_id`` (Airflow's rule for its trigger route)."""
        from airflow.api_fastapi.app import get_auth_manager
        from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

        return bool(
            get_auth_manager().is_authorized_dag(
                method="POST",
                access_entity=DagAccessEntity.RUN,
                details=DagDetails(id=dag_id),
                user=self.user,
            )
        )

    def require(self, method: Method, dag_id: str | None, what: str) -> None:
        """:raises HTTPException: 403 when the user may not ``method`` entries of ``dag_id``."""
        if not self.may(method, dag_id):
            scope = f"DAG {dag_id!r}" if dag_id else "all DAGs (the entry has no DAG)"
            verb = "read" if method == "GET" else "edit"
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"{self.name} may not {verb} {scope}: {what}")


async def current_access(request: Request, user: Annotated[BaseUser, Depends(get_user)]) -> Access:
    """FastAPI dependency: the request's :class:`Access`.

    Airflow's ``get_user`` reads the Bearer header, else the UI's JWT cookie (401/403 otherwise).
    """
    bearer = request.headers.get("authorization", "").lower().startswith("bearer ")
    return Access(user=user, bearer=bearer)


def csrf_token(access: Access) -> str:
    """The token the pages put in their forms for ``access``'s user."""
    digest = hmac.new(_csrf_key(), f"reliable-api-csrf:{access.name}".encode(), hashlib.sha256)
    return digest.hexdigest()


def check_csrf(request: Request, access: Access, submitted: str | None) -> None:
    """:raises HTTPException: 403 for a cookie-authenticated POST from elsewhere or without the token."""
    if access.bearer:
        return
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or urlsplit(source).netloc not in _own_hosts(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin form post refused (Origin/Referer)")
    if not submitted or not hmac.compare_digest(submitted, csrf_token(access)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token: reload the page")


def _own_hosts(request: Request) -> set[str]:
    from airflow.configuration import conf

    hosts = {request.headers.get("host", "")}
    base_url = conf.get("api", "base_url", fallback="") or ""
    if base_url:
        hosts.add(urlsplit(base_url).netloc)
    return hosts - {""}


@cache
def _csrf_key() -> bytes:
    """Airflow's ``[api] secret_key``, which every API server worker shares; else a process key."""
    from airflow.configuration import conf

    key = conf.get("api", "secret_key", fallback="") or ""
    return key.encode() if key else secrets.token_bytes(32)
