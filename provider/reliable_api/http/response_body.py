"""Read a response body under a size cap, without ever holding more than the cap in memory.

An API that answers with a body far larger than any page it should send (a runaway export, a
misrouted download, a hostile server) would otherwise be read whole into a worker's memory. The
body is streamed: a ``Content-Length`` over the cap is refused before a byte is read, and a body
without one is refused as soon as what arrived passes the cap. The cap counts decoded bytes, so a
small gzip body that inflates past it is refused too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reliable_api.exceptions import ConfigurationError

if TYPE_CHECKING:
    import requests

#: Bytes read from the socket at a time.
CHUNK_BYTES = 64 * 1024


def read_capped(response: requests.Response, limit: int, *, attempts: int) -> bytes:
    """Return the body of a response opened with ``stream=True``; after this, ``response.content`` is it.

    :param response: the streamed response.
    :param limit: the most bytes to accept (the connection's ``max_response_bytes``).
    :param attempts: how many times the request has been sent, for the error.
    :raises ConfigurationError: when the body is larger than ``limit``; the connection is closed
        and the rest of the body is never read.
    """
    declared = response.headers.get("Content-Length", "")
    identity = response.headers.get("Content-Encoding", "identity").lower() == "identity"
    if identity and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(response, limit, f"Content-Length {declared}", attempts)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise _too_large(response, limit, f"more than {limit} bytes arrived", attempts)
        chunks.append(chunk)
    body = b"".join(chunks)
    response._content = body  # what requests' own .content caches: the body is read once
    return body


def _too_large(response: requests.Response, limit: int, seen: str, attempts: int) -> ConfigurationError:
    response.close()
    request = response.request
    return ConfigurationError(
        f"the response is larger than the connection's max_response_bytes={limit} ({seen}); "
        "ask for smaller pages, or raise max_response_bytes on the connection",
        status=response.status_code,
        method=request.method if request is not None else None,
        url=response.url or None,
        attempts=attempts,
    )
