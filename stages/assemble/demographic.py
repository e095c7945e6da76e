"""Demographic Information: a description of a user from the profile of their history only.

``template``: the documented sentence "Based on this user's history, they can be described
as: <labels>." over at most ``assemble.demographic_max_traits`` traits (``alignx.persona.traits``,
shared with the evaluate stage's leakage audit), or "Based on this user's history, there is no
clear preference signal." when none passes. ``llm``: an OpenAI-compatible chat model writes it
from the same labels with the
versioned prompt ``stages/assemble/resources/demographic_prompt.md``; answers are cached in
``data/cache/demographics.sqlite`` by (model, prompt version, labels), so a rebuild asks
nothing twice. The text never sees the target. The emit stage scans it like every other text.

``common_rows``: no one description may cover more than ``assemble.max_demographic_share`` of
the Reddit targets; the rows of a description beyond that are left out in a seeded order.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from pipeline.caches import open_sqlite, reading
from pipeline.errors import StageFailed
from pipeline.io import stable_hash
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


#: Rows any one description may keep whatever the share: a share of a small release (5% of 40
#: targets is 2) says nothing, and the demo corpus has 17 targets.
MIN_COMMON_ROWS = 5


def common_rows(df: pl.DataFrame, max_share: float, seed: int) -> set[str]:
    """Ids of the rows of ``df`` (id, demographic) to leave out so that no one description covers
    more than ``max_share`` of the rows left, or ``MIN_COMMON_ROWS`` rows where that is more: each
    description keeps its first rows in a seeded order of their ids (``stable_hash`` of seed,
    "demographic", id), and the cap is taken again of the rows left until nothing more goes.
    ``max_share`` >= 1: none.

    Why: a description most users share ("Concise, likes finance" on a finance forum) is the
    forum's profile, not a persona; a release of such rows teaches the majority's preference."""
    if max_share >= 1 or not df.height:
        return set()
    order = sorted(zip(df["id"].to_list(), df["demographic"].to_list()),
                   key=lambda r: stable_hash([seed, "demographic", r[0]]))
    dropped: set[str] = set()
    while True:
        cap = max(MIN_COMMON_ROWS, int(max_share * (len(order) - len(dropped)) + 1e-9))
        seen: dict[str, int] = {}
        more = set()
        for row_id, text in order:
            if row_id in dropped:
                continue
            seen[text] = seen.get(text, 0) + 1
            if seen[text] > cap:
                more.add(row_id)
        if not more:
            return dropped
        dropped |= more
