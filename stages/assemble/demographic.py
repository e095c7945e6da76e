"""Demographic Information: a description of a user from the profile of their history only.

``template``: the documented sentence "Based on this user's history, they can be described
as: <labels>." over at most ``assemble.demographic_max_traits`` traits (``alignx.persona.traits``,
shared with the evaluate stage's leakage audit), or "Based on this user's history, there is no
clear preference signal." when none passes. ``llm``: an OpenAI-compatible chat model writes it
from the same labels with the
versioned prompt ``stages/assemble/resources/demographic_prompt.md``; answers are cached in
``data/cache/demographics.sqlite`` by (model, prompt version, labels), so a rebuild asks
nothing twice. The text never sees the target. The emit stage scans it like every other text.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.caches import open_sqlite, reading
from pipeline.errors import StageFailed
from pipeline.logs import get_logger

log = get_logger("demographic")
PROMPT_FILE = Path(__file__).parent / "resources" / "demographic_prompt.md"
TEMPLATE = "Based on this user's history, they can be described as: {labels}."
NO_SIGNAL = "Based on this user's history, there is no clear preference signal."


def template(labels: str) -> str:
    return TEMPLATE.format(labels=labels) if labels else NO_SIGNAL


def demographic_prompt_version() -> str:
    return "d" + hashlib.sha256(PROMPT_FILE.read_bytes()).hexdigest()[:12]


def llm_descriptions(labels: list[str], p: dict, cache_file: Path) -> dict[str, str]:
    """labels -> description for every distinct non-empty labels string, from the cache or the model.

    ``p``: the annotate section (endpoint, key variable, sampling) with ``model`` set to the
    description model."""
    import openai

    from alignx.llm import client_kwargs

    db = open_sqlite(cache_file, "CREATE TABLE IF NOT EXISTS d (key TEXT PRIMARY KEY, text TEXT)", timeout=60)
    version = demographic_prompt_version()
    keyed = {lab: hashlib.sha256(json.dumps([p["model"], version, lab]).encode()).hexdigest()
             for lab in sorted(set(labels)) if lab}
    with reading(cache_file):
        found = dict(db.execute(f"SELECT key, text FROM d WHERE key IN ({','.join('?' * len(keyed))})",
                                list(keyed.values())).fetchall()) if keyed else {}
    todo = [lab for lab, k in keyed.items() if k not in found]
    client = openai.OpenAI(**client_kwargs(p)) if todo else None
    template_text = PROMPT_FILE.read_text()
    refused = threading.Event()  # the key was refused: no request is sent after that

    def ask(lab: str) -> tuple[str, str] | None:
        if refused.is_set():
            return None
        try:
            resp = client.chat.completions.create(
                model=p["model"], messages=[{"role": "user", "content": template_text.replace("{traits}", lab)}],
                temperature=p["temperature"], seed=p["sampling_seed"], max_tokens=200)
        except (openai.AuthenticationError, openai.PermissionDeniedError):
            refused.set()
            raise
        text = (resp.choices[0].message.content or "").strip()
        if not text:
            raise ValueError("empty answer")
        return lab, text

    if todo:
        log.info("demographic: asking %s for %d descriptions (%d cached)", p["model"], len(todo), len(found))
        try:
            with ThreadPoolExecutor(max_workers=min(8, p["concurrency"])) as pool:
                for lab, text in filter(None, pool.map(ask, todo)):
                    with reading(cache_file), db:
                        db.execute("INSERT OR REPLACE INTO d VALUES (?, ?)", (keyed[lab], text))
                    found[keyed[lab]] = text
        except (openai.AuthenticationError, openai.PermissionDeniedError):
            raise  # one line naming the key's variable (refused_key_stops)
        except (openai.OpenAIError, ValueError) as exc:
            raise StageFailed(f"assemble: the description model failed ({exc}); descriptions already written are "
                              f"cached: rerun, or set assemble.demographic = \"template\"") from None
    return {lab: found[k] for lab, k in keyed.items()}
