"""The one way every stage builds an OpenAI-compatible client from its settings."""

from __future__ import annotations

import os

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
