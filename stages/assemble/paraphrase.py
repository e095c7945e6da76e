"""``assemble.history_text = "paraphrase"``: persona text that need not be anyone's words.

AlignX's authors describe every persona signal as LLM-synthesized, so no user's own text is
published. With this option each User-Generated Content comment of a Reddit example is
rewritten by the configured LLM (the annotate section's endpoint and key; the model is
``assemble.paraphrase_model`` or ``annotate.model``) with the versioned prompt
``resources/paraphrase_prompt.md``, asked to keep what the comment shows about the writer
(stance, tone, style, interests: the 90 dimensions) and drop names, places and quotes.

Each paraphrase is then rated by the configured annotator (``annotate.backend``, its rating
cache shared), and its **survival** is measured: the share of the original's non-neutral
dimensions (its Preference Direction, as the example carries it) whose direction the
paraphrase's evidence-gated rating reproduces (1.0 when the original has none). A paraphrase
below ``assemble.paraphrase_min_survival`` is dropped from the history, never replaced by the
original. The item keeps the original's Preference Direction (the label the profile and the
target were oriented by).

Paraphrases are cached in ``data/cache/paraphrases.sqlite`` (model, prompt version, text),
so a rebuild asks nothing twice; ``assemble.paraphrase_max_cost`` (USD, 0 = no limit, priced
with annotate's per-token prices) stops the stage cleanly, every paid answer kept.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from alignx.directions import gate, single_direction
from alignx.llm import refused_key_stops
from pipeline.caches import open_sqlite, reading
from pipeline.errors import StageFailed
from pipeline.logs import get_logger
from pipeline.secrets import redact

log = get_logger("assemble")
PROMPT_FILE = Path(__file__).parent / "resources" / "paraphrase_prompt.md"
NEUTRAL = 0.5


def prompt_version() -> str:
    return "p" + hashlib.sha256(PROMPT_FILE.read_bytes()).hexdigest()[:12]


@dataclass
class ParaphraseReport:
    """What the manifest records (``paraphrase.*`` counts)."""

    comments: int = 0  # distinct UGC comments
    kept: int = 0
    dropped_low_survival: int = 0
    failed: int = 0  # no usable answer from the model or the annotator
    survival: list[float] = field(default_factory=list)  # one per rated paraphrase
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0

    def counts(self) -> dict:
        """Numbers only (manifest counts are summed): the survival figures are left out when no
        paraphrase was rated."""
        s = np.array(self.survival)
        survival = ({"paraphrase.survival_mean": round(float(s.mean()), 4),
                     "paraphrase.survival_median": round(float(np.median(s)), 4)} if len(s) else {})
        return {"paraphrase.comments": self.comments, "paraphrase.kept": self.kept,
                "paraphrase.dropped_low_survival": self.dropped_low_survival, "paraphrase.failed": self.failed,
                **survival, "paraphrase.usage.tokens_in": self.tokens_in,
                "paraphrase.usage.tokens_out": self.tokens_out, "paraphrase.usage.cost_usd": round(self.cost_usd, 6)}


def survival(original: list[float], rated: np.ndarray) -> float:
    """Share of ``original``'s non-neutral dimensions (values 0 or 1 of a Preference Direction,
    shape (90,)) that ``rated`` (the paraphrase's direction, same shape) reproduces."""
    orig = np.asarray(original, dtype=float)
    moved = orig != NEUTRAL
    return float((rated[moved] == orig[moved]).mean()) if moved.any() else 1.0


def rewrite(texts: list[str], p: dict, cache_file: Path, report: ParaphraseReport) -> dict[str, str]:
    """comment -> paraphrase for every distinct comment, from the cache or the model.

    ``p``: the annotate section with ``model`` set to the paraphrase model and ``max_cost``
    to ``assemble.paraphrase_max_cost``."""
    import openai

    from alignx.llm import client_kwargs, endpoint

    db = open_sqlite(cache_file, "CREATE TABLE IF NOT EXISTS p (key TEXT PRIMARY KEY, text TEXT)", timeout=60,
                     check_same_thread=False)
    version = prompt_version()
    keyed = {t: hashlib.sha256(json.dumps([p["model"], version, t]).encode()).hexdigest() for t in sorted(set(texts))}
    found: dict[str, str] = {}
    keys = list(keyed.values())
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        with reading(cache_file):
            found.update(db.execute(f"SELECT key, text FROM p WHERE key IN ({','.join('?' * len(chunk))})", chunk))
    todo = [t for t, k in keyed.items() if k not in found]
    if not todo:
        return {t: found[k] for t, k in keyed.items()}
    client = openai.OpenAI(**client_kwargs(p))
    template = PROMPT_FILE.read_text()
    lock = threading.Lock()
    cap = p["max_cost"]
    refused = threading.Event()  # the key was refused: no request is sent after that
    failures: list[str] = []

    def ask(text: str) -> None:
        with lock:
            if refused.is_set() or (cap and report.cost_usd >= cap):
                return  # past the limit: no new request (answers already paid for are cached)
        try:
            resp = client.chat.completions.create(
                model=p["model"], messages=[{"role": "user", "content": template.replace("{comment}", text)}],
                temperature=p["temperature"], seed=p["sampling_seed"], max_tokens=max(64, len(text) // 2))
        except (openai.AuthenticationError, openai.PermissionDeniedError):
            refused.set()
            raise  # one line naming the key's variable (refused_key_stops)
        except openai.OpenAIError as exc:
            with lock:
                failures.append(redact(str(exc), 200))
            log.warning("assemble: paraphrase failed (%s)", failures[-1])
            return
        answer = (resp.choices[0].message.content or "").strip()
        with lock:
            if resp.usage:
                report.tokens_in += resp.usage.prompt_tokens
                report.tokens_out += resp.usage.completion_tokens
                report.cost_usd = (report.tokens_in * p["price_input_per_mtok"]
                                   + report.tokens_out * p["price_output_per_mtok"]) / 1e6
            if answer:
                with reading(cache_file), db:
                    db.execute("INSERT OR REPLACE INTO p VALUES (?, ?)", (keyed[text], answer))
                found[keyed[text]] = answer

    log.info("assemble: asking %s for %d paraphrases (%d cached)", p["model"], len(todo), len(keyed) - len(todo))
    with ThreadPoolExecutor(max_workers=max(1, min(8, p["concurrency"]))) as pool:
        list(pool.map(ask, todo))
    if cap and report.cost_usd >= cap and any(keyed[t] not in found for t in todo):
        raise StageFailed(f"assemble: paraphrase cost limit reached (${report.cost_usd:.2f} of "
                          f"assemble.paraphrase_max_cost=${cap:.2f}); every paid paraphrase is cached. Continue "
                          f"with a higher limit, e.g. --set assemble.paraphrase_max_cost={cap * 2:g}")
    if failures and len(failures) == len(todo):  # a dead or wrong endpoint, not a few bad answers
        raise StageFailed(f"assemble: none of {len(todo)} paraphrase requests was answered by {endpoint(p)} "
                          f"(first: {failures[0]}); check annotate.base_url and rerun (answers are cached)")
    return {t: found[k] for t, k in keyed.items() if k in found}


def rerate(pairs: list[tuple[str, str]], a: dict, data_dir: Path, report: ParaphraseReport) -> dict[tuple[str, str], np.ndarray]:
    """(post, paraphrase) -> the paraphrase's direction (shape (90,), {0, 0.5, 1}, evidence-gated),
    by the configured annotator; its rating cache is shared with the annotate stage."""
    from annotators import cache_path, make, make_spend
    from annotators.ratings import Item, RatingCache, Result, cache_key

    annotator = make(a, data_dir)
    cache = RatingCache(cache_path(data_dir))
    keys = [cache_key(annotator.backend, annotator.model, annotator.version, post, text) for post, text in pairs]
    results: dict[str, Result] = {k: Result(k, r, e) for k, (r, e) in cache.get_ok(keys).items()}
    todo = {k: Item(k, post, text) for k, (post, text) in zip(keys, pairs) if k not in results}

    def on_result(batch: list[Result]) -> None:
        cache.put([r for r in batch])
        results.update({r.key: r for r in batch})

    if todo:
        spend = make_spend(a)
        annotator.annotate(list(todo.values()), list(todo), on_result, spend, False)
        report.tokens_in += spend.tokens_in
        report.tokens_out += spend.tokens_out
        report.cost_usd += spend.cost
    return {pair: single_direction(gate(results[k].ratings, results[k].evidence))
            for pair, k in zip(pairs, keys) if k in results and results[k].ok}


def paraphrase_history(df: pl.DataFrame, ap: dict, a: dict, data_dir: Path,
                       report: ParaphraseReport | None = None) -> tuple[pl.DataFrame, ParaphraseReport]:
    """``df`` (assembled Reddit examples) with every UGC comment replaced by its paraphrase, and
    UGC items whose paraphrase failed or fell below ``ap["paraphrase_min_survival"]`` removed.
    ``ap``: the assemble section; ``a``: the annotate section. ``report``: the one to add to when
    the examples come in several frames (the cost limit is of all of them)."""
    report = report or ParaphraseReport()
    if df.height == 0:
        return df, report
    rows = df.select("ugc").to_series().to_list()
    items = {(x["prompt"], x["comment"]): x["Preference Direction"] for ugc in rows for x in (ugc or [])}
    report.comments += len(items)
    llm = {**a, "model": ap["paraphrase_model"] or a["model"], "max_cost": ap["paraphrase_max_cost"]}
    with refused_key_stops(llm, "assemble"):
        texts = rewrite([c for _, c in items], llm, data_dir / "cache" / "paraphrases.sqlite", report)
        pairs = sorted({(post, texts[c]) for post, c in items if c in texts})
        rated = rerate(pairs, a, data_dir, report)
    keep: dict[tuple[str, str], str] = {}
    for (post, comment), direction in items.items():
        para = texts.get(comment)
        if para is None or (post, para) not in rated:
            report.failed += 1
            continue
        s = survival(direction, rated[(post, para)])
        report.survival.append(s)
        if s >= ap["paraphrase_min_survival"]:
            keep[(post, comment)] = para
            report.kept += 1
        else:
            report.dropped_low_survival += 1
    new_ugc = [[{**x, "comment": keep[(x["prompt"], x["comment"])]} for x in (ugc or [])
                if (x["prompt"], x["comment"]) in keep] for ugc in rows]
    return df.with_columns(pl.Series("ugc", new_ugc, dtype=df.schema["ugc"])), report
