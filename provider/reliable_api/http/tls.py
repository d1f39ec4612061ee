"""TLS certificate verification of a connection: on unless its extra turns it off, never silently.

The http provider's ``HttpHook`` reads ``verify`` (or ``verify_ssl``) from the connection extra:
``true`` (the default), ``false``, or the path of a CA bundle. Off, anyone on the network path can
read and change the requests, credentials included; so turning it off takes that explicit setting
and logs a warning naming the connection. A ``"false"`` typed into a form arrives as text, which
requests would take for the path of a CA bundle: text that spells a boolean is read as one.
"""

from __future__ import annotations

import logging
from typing import Any

_OFF = frozenset({"false", "0", "no", "off"})
_ON = frozenset({"true", "1", "yes", "on"})


def tls_verification(verify: Any, conn_id: str, log: logging.Logger | Any) -> bool | str:
    """What requests should verify with: ``True``, ``False`` or a CA bundle path.

    :param verify: the session's ``verify`` as ``HttpHook`` set it from the connection extra.
    :param conn_id: the connection, named in the warning.
    :param log: where the warning goes.
    """
    if isinstance(verify, str) and verify.strip().lower() in _OFF | _ON:
        verify = verify.strip().lower() in _ON
    if verify is False:
        log.warning(
            "TLS certificate verification is OFF for connection %r (its extra sets verify to false): "
            "its requests and credentials can be read and changed on the way; remove the setting, or "
            "give the path of the CA bundle that signs the API's certificate",
            conn_id,
        )
        return False
    return verify if isinstance(verify, str) else True
