"""``alignx annotate --estimate``: projected requests, tokens and cost; nothing is sent.

The estimate walks the stage's own path: the comments ``annotate.scope`` rates (the others are
counted as skipped), minus the cached ones, planned into the very requests the backend would send
(``llm.plan_requests``, ``llm.request_body``). Input tokens are those requests' messages counted
with the model family's tokenizer where one installs offline (``tokenizer``: OpenAI's o200k_base
and cl100k_base through ``bpe-openai``, which bundles them), plus the chat format's documented
overhead per message and the answer schema's JSON (how a provider folds a strict schema into the
prompt is not published: its serialized tokens stand in). For any other model the tokens are
approximated as characters / 4, and the estimate says so. Output tokens are what the sparse
answers would take if the model found what the hand-labelled reference set's labeller found
(``output_tokens_per_comment``): measured by the same tokenizer on real labels, not on an LLM run.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import polars as pl

from annotators import backend, cache_path, make, make_spend, rated_ids
from annotators.llm import plan_requests, request_body
from alignx.taxonomy import N_DIMENSIONS
from annotators.ratings import ANSWER_SCHEMA, Item, RatingCache, cache_key, to_codes

#: OpenAI's documented chat overhead: tokens per message, and the reply's priming.
TOKENS_PER_MESSAGE, REPLY_PRIMING = 3, 3
#: Model name prefixes -> their tokenizer (as tiktoken maps them).
ENCODINGS = (("gpt-5", "o200k_base"), ("gpt-4.1", "o200k_base"), ("gpt-4.5", "o200k_base"), ("gpt-4o", "o200k_base"),
             ("chatgpt-4o", "o200k_base"), ("o1", "o200k_base"), ("o3", "o200k_base"), ("o4", "o200k_base"),
             ("gpt-4", "cl100k_base"), ("gpt-3.5", "cl100k_base"), ("gpt-35", "cl100k_base"))


@lru_cache(maxsize=8)
def tokenizer(model: str) -> tuple[Callable[[str], int], str]:
    """(text -> token count, how the tokens are counted) for ``model``."""
    name = next((enc for prefix, enc in ENCODINGS if model.split("/")[-1].startswith(prefix)), None)
    if name is not None:
        try:
            import bpe_openai
        except ImportError:
            pass
        else:
            enc = bpe_openai.get_encoding(name)
            return (lambda s: len(enc.encode(s, disallowed_special=()))), f"counted with {name}, the tokenizer of {model}"
    return (lambda s: (len(s) + 3) // 4), (f"approximated as characters / 4: no tokenizer of {model} installs offline "
                                           f"(the OpenAI models' do)")


def output_tokens_per_comment(count: Callable[[str], int]) -> float:
    """Mean tokens of one comment's entry in an answer (``{"id": 3, "r": ["d16+2s", ...]}, ``) over
    the hand-labelled reference set (dev and test), where the labeller's dimensions are the codes."""
    from annotators.reference import item_labels, load

    entries = []
    for labels in item_labels(load()).values():
        r, e = [0] * N_DIMENSIONS, [0] * N_DIMENSIONS
        for d, lab in labels.items():
            if lab.get("evidence") in ("weak", "strong") and lab.get("intensity"):
                r[int(d)], e[int(d)] = int(lab["intensity"]), 1 if lab["evidence"] == "weak" else 2
        entries.append(json.dumps({"id": 3, "r": to_codes(r, e)}) + ", ")
    return sum(map(count, entries)) / max(len(entries), 1)


def estimate(p: dict, data_dir: Path, thread_files: list[Path], min_comments: int, pairs_from: str) -> dict[str, Any]:
    """Projected requests, tokens and cost of annotating ``thread_files`` under ``p`` (the
    ``[annotate]`` section; ``min_comments``, ``pairs_from``: assemble's, which decide what can
    enter the dataset). Nothing is sent."""
    cls = backend(p["backend"])
    annotator = make(p, data_dir) if cls.sends_requests else None  # one that sends nothing costs nothing
    model = cls.model_of(p)
    version = annotator.version if annotator else "n/a"
    count, how = tokenizer(model)
    rated = rated_ids(p, min_comments, pairs_from, thread_files)
    cache = RatingCache(cache_path(data_dir))
    items = skipped = cached = to_send = requests = tokens_in = prefix_in = 0
    overhead = 2 * TOKENS_PER_MESSAGE + REPLY_PRIMING + count(json.dumps(ANSWER_SCHEMA))
    prefix = None
    for f in thread_files:  # one shard each, planned as the stage plans it
        df = pl.read_parquet(f, columns=["id", "prompt", "body"])
        items += df.height
        if rated is not None:
            keep = df["id"].is_in(sorted(rated))
            skipped += int((~keep).sum())
            df = df.filter(keep)
        keys = [cache_key(p["backend"], model, version, a, b) for a, b in zip(df["prompt"], df["body"])]
        hit = cache.get_ok(keys)
        cached += sum(k in hit for k in keys)
        if annotator is None:
            continue
        todo = list({k: Item(i, a, b) for k, i, a, b in zip(keys, df["id"], df["prompt"], df["body"])
                     if k not in hit}.values())
        to_send += len(todo)
        for g in plan_requests(todo, p["items_per_request"]):
            system, user = request_body(p, [todo[i] for i in g])["messages"]
            if prefix is None:
                prefix = count(system["content"])
            requests += 1
            prefix_in += prefix
            tokens_in += prefix + count(user["content"]) + overhead
    wrapper = count('{"items": [') + count("]}")
    per_comment_out = output_tokens_per_comment(count) if annotator else 0.0
    tokens_out = round((to_send * per_comment_out + requests * wrapper) * max(1, p["self_consistency"]))
    spend = make_spend(p)
    spend.add(tokens_in, tokens_out)
    rate = items - skipped
    return {"annotator": f"{p['backend']}:{model}", "items": items, "skipped": skipped,
            "skipped_share": round(skipped / max(items, 1), 4), "rated": rate, "cached": cached,
            "to_send": to_send, "requests": requests, "items_per_request": p["items_per_request"],
            "tokens_in": spend.tokens_in, "tokens_out": spend.tokens_out, "prefix_tokens_in": prefix_in,
            "tokens_in_per_comment": round(tokens_in / max(to_send, 1), 1),
            "tokens_out_per_comment": round(tokens_out / max(to_send, 1), 1),
            "tokenizer": how, "cost_usd": spend.cost}
