"""Email addresses: syntax checked with email-validator (no network), domain lowercased, trimmed.

Addresses on a disposable-mail domain (the ``disposable-email-domains`` blocklist, subdomains
included) are rejected unless the domain is in the field's ``allow`` list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reliable_api.validation.normalizers.base import (
    Defaults,
    Normalizer,
    NormalizerKind,
    option,
    text_input,
    unicode_form,
    word_list,
)
from reliable_api.validation.rejection import Rejection

# A plain ASCII address: dot-atom local part of common characters, LDH labels, an alphabetic TLD.
_PLAIN = re.compile(
    r"([A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)@"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)


class PlainAddressFastPath:
    """``check(text)`` gives what email-validator gives for a plain ASCII address, else ``None``.

    email-validator spends most of its 60 µs on Unicode and IDNA rules that a plain ASCII address
    cannot trigger. This path accepts only such addresses, within the RFC lengths, away from the
    special-use domains, the case-insensitive mailbox names and IDNA's ``--`` labels; for them
    email-validator keeps the local part and lowercases the domain. A Hypothesis test holds the
    two paths to the same answer.
    """

    def __init__(self) -> None:
        from email_validator import SPECIAL_USE_DOMAIN_NAMES
        from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

        # All single labels ("test", "local"...): a domain is special-use when its last label is one.
        self._special = frozenset(SPECIAL_USE_DOMAIN_NAMES)
        self._mailboxes = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)

    def check(self, text: str) -> str | None:
        """The normalized address when ``text`` is plain; ``None``: take the full path."""
        found = _PLAIN.fullmatch(text)
        if found is None or len(text) > 254:
            return None
        local, domain = found.group(1), found.group(2).lower()
        if len(local) > 64 or len(domain) > 253 or "--" in domain or local.lower() in self._mailboxes:
            return None
        if domain.rpartition(".")[2] in self._special:
            return None
        return f"{local}@{domain}"


def build_email(field: str, options: Mapping[str, Any], defaults: Defaults) -> Normalizer:
    """An email address with its domain lowercased (its local part too with ``lowercase_local``).

    Options: ``allow`` (disposable domains to accept), ``reject_disposable`` (default true),
    ``lowercase_local`` (default false: mailboxes may be case-sensitive), ``unicode_form``.
    """
    from disposable_email_domains import blocklist
    from email_validator import EmailNotValidError, validate_email

    allow = frozenset(domain.lower() for domain in word_list(options, "allow", ()))
    blocked = (
        frozenset(blocklist) - allow if option(options, "reject_disposable", bool, True) else frozenset()
    )
    lowercase_local = option(options, "lowercase_local", bool, False)
    form = unicode_form(options, defaults)
    fast = PlainAddressFastPath().check

    seen: dict[str, bool] = {}  # few domains, many addresses

    def disposable(domain: str) -> bool:
        answer = seen.get(domain)
        if answer is None:
            labels = domain.split(".")
            answer = any(".".join(labels[start:]) in blocked for start in range(len(labels) - 1))
            if len(seen) < 100_000:
                seen[domain] = answer
        return answer

    def normalize(value: Any) -> Any:
        text = text_input(field, value, form)
        if type(text) is not str:
            return text
        address = fast(text)
        if address is None:
            try:
                valid = validate_email(text, check_deliverability=False)
            except EmailNotValidError as error:
                return Rejection(field, value, "invalid_email", str(error))
            address, domain = valid.normalized, valid.ascii_domain
        else:
            domain = address.rpartition("@")[2]
        # The blocklist holds ASCII (punycode) domains.
        if disposable(domain):
            return Rejection(field, value, "disposable_email", f"{domain} is a disposable-mail domain")
        return address.lower() if lowercase_local else address

    return normalize


EMAIL = NormalizerKind(
    "email",
    frozenset({"email"}),
    frozenset({"allow", "reject_disposable", "lowercase_local", "unicode_form"}),
    build_email,
)
