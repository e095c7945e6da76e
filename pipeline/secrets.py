"""Secrets never reach a log, manifest, cache or release: ``redact`` every text that may carry
one (an error an endpoint sent back, a log line) before it is stored.

What is redacted: every value ``register``ed (the API key a client was built with), the value
of every environment variable whose name says it is a secret (``*_API_KEY``, ``*_TOKEN``,
``*_SECRET``, ``*_PASSWORD``, ``ALIGNX_PSEUDONYM_KEY``), and anything shaped like an API key
(``sk-...``, ``Bearer ...``) even when it is no key of ours: an endpoint may echo another.

A known secret is redacted whole and in pieces: any run of ``FRAGMENT`` or more characters of
it (a key an endpoint cut, or that a long error pushed past a length limit). Text is cut to a
length only after it is redacted (``redact(text, limit)``): cutting first could split a secret
into pieces that match nothing.
"""

from __future__ import annotations

import logging
import os
import re

REDACTED = "<redacted>"
#: Environment variable names whose values are secrets.
SECRET_ENV = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PSEUDONYM_KEY)", re.IGNORECASE)
#: Shapes of API keys and credentials in free text.
KEY_SHAPES = re.compile(
    r"(?:\bsk-[A-Za-z0-9_\-]{3,}"  # OpenAI-style keys (sk-..., sk-proj-...)
    r"|\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/\-]{3,}=*"  # an Authorization header's credential
    r"|\b(?:api[_-]?key|token|secret|password)[\"']?\s*[:=]\s*[\"']?[^\s\"',}]{3,})",  # key=value
    re.IGNORECASE,
)
#: Secrets shorter than this are not searched for (they would match ordinary text).
MIN_SECRET_LENGTH = 4
#: Any run of this many characters of a known secret is redacted, wherever it appears.
FRAGMENT = 8
_registered: set[str] = set()


def register(value: str | None) -> None:
    """Redact ``value`` from everything from now on in this process (e.g. the configured API key)."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        _registered.add(value)


def _known() -> list[str]:
    env = {v for k, v in os.environ.items() if SECRET_ENV.search(k) and v and len(v) >= MIN_SECRET_LENGTH}
    return sorted(_registered | env, key=len, reverse=True)  # longest first: no partial leftovers


def _fragment_spans(text: str, secrets: list[str]) -> list[tuple[int, int]]:
    """(start, end) of every run in ``text`` made of ``FRAGMENT``-character pieces of a secret."""
    pieces = {s[i:i + FRAGMENT] for s in secrets for i in range(len(s) - FRAGMENT + 1)}
    if not pieces:
        return []
    spans: list[tuple[int, int]] = []
    for i in range(len(text) - FRAGMENT + 1):
        if text[i:i + FRAGMENT] in pieces:
            if spans and spans[-1][1] >= i:
                spans[-1] = (spans[-1][0], i + FRAGMENT)
            else:
                spans.append((i, i + FRAGMENT))
    return spans


def redact(text: str | None, limit: int | None = None) -> str | None:
    """``text`` with every known secret, every ``FRAGMENT``-character piece of one and every
    key-shaped string replaced by ``<redacted>``; then cut to ``limit`` characters, if given.
    The one way text from outside (an endpoint's error) is made safe to store or log."""
    if not text:
        return text
    known = _known()
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for start, end in reversed(_fragment_spans(text, known)):
        text = text[:start] + REDACTED + text[end:]
    text = KEY_SHAPES.sub(REDACTED, text)
    return text if limit is None else text[:limit]


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
