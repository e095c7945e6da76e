"""The one way every stage builds an OpenAI-compatible client from its settings."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from pipeline.errors import UserError
from pipeline.secrets import redact, register  # noqa: F401  (redact: for every backend's stored errors)


def client_kwargs(p: dict, section: str = "annotate") -> dict:
    """Keyword arguments for ``openai.OpenAI`` / ``AsyncOpenAI`` from a settings dict holding
    ``api_key_env``, ``base_url``, ``timeout_s``, ``max_retries`` (and ``backend`` for messages)."""
    key = os.environ.get(p["api_key_env"])
    if not key and not p["base_url"]:
        raise UserError(f"{section}: the endpoint needs an API key in ${p['api_key_env']} "
                        f"(or {section}.base_url for a local server)")
    register(key)  # never stored: redacted from every error, log line and cache entry
    return {"base_url": p["base_url"] or None, "api_key": key or "not-needed", "timeout": p["timeout_s"],
            "max_retries": p["max_retries"]}


def endpoint(p: dict) -> str:
    return p["base_url"] or "https://api.openai.com/v1"


@contextmanager
def refused_key_stops(p: dict, section: str = "annotate") -> Iterator[None]:
    """Requests to the endpoint of ``p`` inside this block: a 401 or 403 answer (a missing, wrong
    or revoked key, or one without access to the model) is one line naming the variable the key
    is read from. Every later request would be refused the same way, so callers let the error
    through at once (cancelling what is in flight) instead of recording it per item."""
    import openai

    try:
        yield
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        given = "set" if os.environ.get(p["api_key_env"]) else "not set"
        raise UserError(f"{section}: {endpoint(p)} refused the API key in ${p['api_key_env']} ({given}; HTTP "
                        f"{exc.status_code}: {redact(exc.message, 120)}); put a valid key in ${p['api_key_env']} "
                        f"(annotate.api_key_env names the variable) and rerun") from None
