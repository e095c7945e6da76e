"""``alignx annotate --estimate``: projected requests, tokens and cost; nothing is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from annotators import backend, cache_path, make, make_spend
from annotators.ratings import RatingCache, cache_key, render_prompt

#: Output tokens of one sparse answer: the wrapper (about 10) plus 5 listed dimensions (the
#: median per comment in the hand-labelled reference set, data/validation/labels_a.jsonl) at
#: about 30 tokens each (key, intensity, evidence and a short quote). Times self_consistency.
#: The dense answer it replaced listed all 90 keys: about 545 tokens.
OUTPUT_TOKENS_PER_ITEM = 160


def estimate(p: dict, data_dir: Path, thread_files: list[Path]) -> dict[str, Any]:
    """Projected requests, tokens and cost of annotating ``thread_files`` (nothing is sent).

    Input tokens are counted as characters / 4 of the rendered prompt (the usual rule of thumb
    for English with OpenAI tokenizers)."""
    cls = backend(p["backend"])
    annotator = make(p, data_dir) if cls.sends_requests else None  # one that sends nothing costs nothing
    model = cls.model_of(p)
    version = annotator.version if annotator else "n/a"
    cache = RatingCache(cache_path(data_dir))
    items = cached = tokens_in = 0
    for f in thread_files:
        df = pl.read_parquet(f, columns=["prompt", "body"])
        keys = [cache_key(p["backend"], model, version, a, b) for a, b in zip(df["prompt"], df["body"])]
        hit = cache.get_ok(keys)
        for k, post, body in zip(keys, df["prompt"], df["body"]):
            items += 1
            if k in hit:
                cached += 1
            elif annotator:
                tokens_in += len(render_prompt(post, body)) // 4 + 20
    to_send = items - cached if annotator else 0
    spend = make_spend(p)
    spend.add(tokens_in, to_send * OUTPUT_TOKENS_PER_ITEM * max(1, p["self_consistency"]))
    return {"annotator": f"{p['backend']}:{model}", "items": items, "cached": cached, "to_send": to_send,
            "tokens_in": spend.tokens_in, "tokens_out": spend.tokens_out, "cost_usd": spend.cost}
