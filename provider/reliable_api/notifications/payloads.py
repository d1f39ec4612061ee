"""Alert payloads: Slack incoming-webhook messages (Block Kit) within Slack's limits, or plain JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reliable_api.alerting.alert import Alert

#: Slack's limits on what an incoming webhook message may carry (Block Kit reference).
HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
BUTTON_URL_CHARS = 3000
#: Slack truncates a message's ``text`` after 40,000 characters; the fallback stays far below.
FALLBACK_CHARS = 3000
TRIM_MARK = "… [trimmed]"


@dataclass
class Payload:
    """A JSON body to post, and what had to be trimmed to fit the receiver's limits."""

    body: dict[str, Any]
    trimmed: list[str] = field(default_factory=list)


def json_payload(alert: Alert) -> Payload:
    """The alert as a flat JSON object (see :meth:`Alert.as_json`)."""
    return Payload(alert.as_json())


def slack_payload(alert: Alert) -> Payload:
    """A Slack incoming-webhook message: blocks, and a ``text`` fallback for notifications.

    Every text is cut to Slack's limit for its place (marked ``… [trimmed]`` and listed in
    :attr:`Payload.trimmed`); a link longer than a button may hold is left out, also listed.
    """
    payload = Payload({})
    fit = _Fitter(payload.trimmed)
    fields = [
        ("Integration", alert.integration),
        ("DAG", alert.dag_id),
        ("Task", alert.task_id),
        ("Run", alert.run_id),
        ("Try", _try(alert)),
        ("Error", " · ".join(part for part in (alert.error_class, alert.error_kind) if part) or None),
        ("Attempts", alert.attempts),
        ("Dead-lettered in this run", alert.dead_lettered),
    ]
    facts = [
        _mrkdwn(fit(f"field {name}", f"*{name}*\n{_escape(str(value))}", FIELD_CHARS))
        for name, value in fields
        if value is not None
    ][:MAX_FIELDS]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(fit("header", alert.title, HEADER_CHARS))}
    ]
    if facts:  # Slack refuses a section without fields or text
        blocks.append({"type": "section", "fields": facts})
    if alert.message:
        quoted = "```" + _escape(alert.message.replace("```", "'''")) + "```"
        if len(quoted) > SECTION_CHARS:
            room = SECTION_CHARS - len(TRIM_MARK) - 6
            quoted = "```" + quoted[3 : 3 + room] + TRIM_MARK + "```"
            payload.trimmed.append("message")
        blocks.append({"type": "section", "text": _mrkdwn(quoted)})
    if alert.grouping_note:
        blocks.append({"type": "context", "elements": [_mrkdwn(_escape(alert.grouping_note))]})
    buttons = [
        _button(text, url)
        for text, url in (("View run", alert.run_url), ("Dead letters", alert.dlq_url))
        if url and not _too_long_link(text, url, payload.trimmed)
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    if payload.trimmed:
        blocks.append(
            {"type": "context", "elements": [_mrkdwn("_Parts of this alert were trimmed to fit Slack._")]}
        )
    lines = [alert.title, alert.grouping_note, alert.message, alert.run_url]
    payload.body = {
        "text": fit("text", "\n".join(_escape(line) for line in lines if line), FALLBACK_CHARS),
        "blocks": blocks,
    }
    return payload


class _Fitter:
    def __init__(self, trimmed: list[str]) -> None:
        self.trimmed = trimmed

    def __call__(self, what: str, text: str, limit: int) -> str:
        if len(text) <= limit:
            return text
        self.trimmed.append(what)
        return text[: limit - len(TRIM_MARK)] + TRIM_MARK


def _too_long_link(what: str, url: str, trimmed: list[str]) -> bool:
    if len(url) <= BUTTON_URL_CHARS:
        return False
    trimmed.append(f"link {what}")
    return True


def _try(alert: Alert) -> str | None:
    if alert.try_number is None:
        return None
    return (
        f"{alert.try_number} of {alert.max_tries + 1}"
        if alert.max_tries is not None
        else str(alert.try_number)
    )


def _escape(text: str) -> str:
    # Slack's mrkdwn needs these three escaped; anything else is shown as written.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _button(text: str, url: str) -> dict[str, Any]:
    return {"type": "button", "text": _plain(text), "url": url}
