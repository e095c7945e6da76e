"""Stage ``annotate``: 90-dimension preference intensities for every comment that can enter the dataset.

Config section ``[annotate]``. Upstream: ``anonymize`` (its ``threads``: comments with their
post). One shard per author bucket; shards run one after another in one process, since the
backend holds a model or runs its own bounded concurrency against an API.

Which comments are rated (``annotate.scope``): with "dataset" only those that can enter the
dataset (``alignx/candidates.py``: a comment of a user with at least ``assemble.min_comments``
comments, or a candidate of a pair in a group such a user answered; computed over every bucket,
since pairs cross buckets); the others are kept as rows with status "skipped" and no rating,
counted in ``dropped`` as ``not_in_dataset`` and in ``counts`` as ``skipped_share`` (of the
comments in). "auto" (the default) is "dataset" for the LLM backends and "all" for the offline one.

Output ``ratings/bucket-NNN.parquet``: ``id``, ``link_id``, ``author``, ``ratings`` (90 int8 in
-2..2, null when failed), ``evidence`` (90 int8: 0 none, 1 weak, 2 strong; a rating without
evidence is 0), ``status`` ("ok" / "failed" / "skipped"), ``error`` (the reason of a failure), ``annotator``
(backend:model), ``annotator_version`` (the prompt's version for the LLM backends, the offline
instruments' version for ``embedding``), ``measures`` (struct of Float32 ``words``: word count,
``grade``: Flesch-Kincaid grade level, ``syllables_per_word`` and ``words_per_sentence``: its
inputs; the raw measures pair directions compare between
responses to the same text, alignx/directions.py rule 3; computed from the text by the offline
backend, null for the LLM backends). Failed items are kept with their reason, counted in the
manifest's ``dropped`` as ``failed_<kind>``, and retried on the next run. The manifest's
``counts`` hold ``cached``, ``requested``, ``usage.tokens_in``, ``usage.tokens_out``,
``usage.requests``, ``usage.retried_alone`` (comments asked again in a request of their own, their
entry in a multi-comment answer being bad) and ``usage.cost_usd`` (what this run spent), and
``ratings.tokens_in`` / ``ratings.tokens_out``: what the stage's ratings cost when they were made,
from the rating cache (each request's tokens split over its comments; the same whether they came
from this run, an interrupted one or another build).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from alignx.llm import redact, refused_key_stops
from pipeline.config import Config
from pipeline.io import write_parquet
from pipeline.logs import get_logger
from pipeline.stage import Shard, Stage, StageContext, Stats
from annotators import ANNOTATOR, ANNOTATOR_TUNES, SCOPE, Annotator, backend, cache_path, make, make_spend, rated_ids
from annotators.measures import MEASURES_TYPE
from annotators.ratings import Item, RatingCache, Result, cache_key

log = get_logger("annotate")
#: The drop reason of a comment that cannot enter the dataset (annotate.scope), left unrated.
SKIPPED = "not_in_dataset"
_SCOPE: dict[tuple, set[str] | None] = {}


def in_scope(ctx: StageContext) -> set[str] | None:
    """The ids of the comments this run rates (``annotators.rated_ids``: None for all), computed
    once per process over every bucket of anonymize's threads: a comment's pairs cross buckets."""
    p = ctx.params
    files = ctx.upstream_files("anonymize", "threads")
    key = (tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files), p["scope"], p["backend"],
           ctx.config["assemble.min_comments"], ctx.config["assemble.pairs_from"])
    if key not in _SCOPE:
        _SCOPE.clear()
        _SCOPE[key] = rated_ids(p, ctx.config["assemble.min_comments"], ctx.config["assemble.pairs_from"], files)
    return _SCOPE[key]


def thread_items(path: Path) -> tuple[pl.DataFrame, list[Item]]:
    df = pl.read_parquet(path, columns=["id", "link_id", "author", "prompt", "body"])
    return df, [Item(i, post, body) for i, post, body in zip(df["id"], df["prompt"], df["body"])]


def measures_column(annotator: Annotator, texts: list[str], ok: list[bool]) -> pl.Series:
    """annotate's ``measures`` column: each text's raw measures (``MEASURES_TYPE``) where the
    backend computes them and the rating succeeded, else null. Computed from the text on every
    run (vectorized, cheap), never cached: it is no rating."""
    m = annotator.measures(texts)
    if m is None:
        return pl.Series("measures", [None] * len(texts), dtype=MEASURES_TYPE)
    fields = [pl.Series(name, m[:, j], dtype=pl.Float32) for j, name in enumerate(MEASURES_TYPE.to_schema())]
    return (pl.DataFrame(fields).select(pl.when(pl.Series(ok, dtype=pl.Boolean)).then(pl.struct(*MEASURES_TYPE.to_schema())))
            .to_series().alias("measures"))


class Annotate(Stage):
    name = "annotate"
    version = "10"  # 2: sparse ratings with evidence, annotator_version; 3: lexicon and static-embedding
    # instruments; 4: interests compete on topic similarity, the annotator version hashes the instruments' code;
    # 5: lexicons skip quoted lines, act lexicons for openness / inviolacy / honesty ..., rules refitted;
    # 6: the raw measures column (measures); 7: sources lexicon (truthfulness 43), openness lexicon
    # without praise of a point, rules refitted on 520 dev items: 43 and 4 rated; 8: 42 honesty no longer rated;
    # 9: measures gain syllables_per_word and words_per_sentence (complexity 46's refitted formula);
    # 10: annotate.scope: comments that cannot enter the dataset are left unrated (status "skipped")
    upstream = ("anonymize",)
    uses = (*ANNOTATOR, *SCOPE)
    tunes = ANNOTATOR_TUNES
    unit = "comments"
    #: The offline annotator rates shards in parallel processes (one core each); a backend that
    #: sends requests rates them one after another in one process (``prepare``): its spend cap
    #: (annotate.max_cost) is one counter, and the endpoint has its own concurrency (annotate.concurrency).
    parallel = True
    description = "rate every comment on the 90 dimensions (-2..2, with evidence) with the configured annotator"

    def prepare(self, config: Config, data_dir: Path) -> None:
        p = config.section(self.section)
        self.spend = make_spend(p)
        self.parallel = not backend(p["backend"]).sends_requests

    def fingerprint_extra(self, config: Config, data_dir: Path) -> dict[str, str]:
        p = config.section(self.section)
        return backend(p["backend"]).fingerprint(p)

    def shards(self, ctx: StageContext) -> list[Shard]:
        files = ctx.upstream_files("anonymize", "threads")
        return [Shard(f.stem, (str(f),), weight=f.stat().st_size) for f in files]

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        p = ctx.params
        annotator = make(p, ctx.data_dir)
        spend = getattr(self, "spend", None) or make_spend(p)
        cache = RatingCache(cache_path(ctx.data_dir))
        df, items = thread_items(Path(shard.inputs[0]))
        rated = in_scope(ctx)
        rate = [True] * len(items) if rated is None else [it.id in rated for it in items]
        keys = [cache_key(annotator.backend, annotator.model, annotator.version, it.post, it.response) if r else None
                for it, r in zip(items, rate)]
        cached = cache.get_ok([k for k in keys if k is not None])
        # each distinct text rated once
        todo = list({k: (it, k) for it, k in zip(items, keys) if k is not None and k not in cached}.values())
        results: dict[str, Result] = {k: Result(k, r, e) for k, (r, e) in cached.items()}
        before = (spend.tokens_in, spend.tokens_out, spend.requests, spend.cost, spend.retried_alone)

        def on_result(batch: list[Result]) -> None:
            for r in batch:  # an endpoint may echo the key in its error: never stored
                r.error = redact(r.error)
            cache.put(batch)  # each answer is kept as soon as it arrives: nothing paid for is lost
            results.update({r.key: r for r in batch})

        if todo:
            with refused_key_stops(p):
                annotator.annotate([it for it, _ in todo], [k for _, k in todo], on_result, spend, ctx.progress)
        ratings = [results[k].ratings if k in results and results[k].ok else None for k in keys]
        evidence = [results[k].evidence if r is not None else None for k, r in zip(keys, ratings)]
        errors = [None if r is not None or k is None else
                  redact(results[k].error if k in results else "not_annotated: interrupted")
                  for k, r in zip(keys, ratings)]
        status = ["ok" if r is not None else "skipped" if k is None else "failed" for k, r in zip(keys, ratings)]
        out = df.select("id", "link_id", "author").with_columns(
            pl.Series("ratings", ratings, dtype=pl.List(pl.Int8)),
            pl.Series("evidence", evidence, dtype=pl.List(pl.Int8)),
            pl.Series("status", status),
            pl.Series("error", errors, dtype=pl.String),
            pl.lit(f"{annotator.backend}:{annotator.model}").alias("annotator"),
            pl.lit(annotator.version).alias("annotator_version"),
            measures_column(annotator, [it.response for it in items], ok=[r is not None for r in ratings]),
        )
        write_parquet(out, out_dir / "ratings" / f"{shard.key}.parquet")
        stats = Stats(records_in=len(items), records_out=sum(r is not None for r in ratings))
        for e in errors:
            if e:
                stats.dropped[f"failed_{e.split(':', 1)[0]}"] += 1
        skipped = status.count("skipped")
        if skipped:
            stats.dropped[SKIPPED] += skipped
        ok_keys = [k for k in dict.fromkeys(keys) if k is not None and k in results and results[k].ok]
        needed_in, needed_out = cache.tokens(ok_keys)
        stats.counts.update({
            # what the ratings cost when they were made (the dataset card's figure: the same for a
            # resumed or a cached build) and what this run spent (status)
            "ratings.tokens_in": needed_in, "ratings.tokens_out": needed_out,
            "cached": len(cached), "requested": len(todo),
            "usage.tokens_in": spend.tokens_in - before[0], "usage.tokens_out": spend.tokens_out - before[1],
            "usage.requests": spend.requests - before[2], "usage.retried_alone": spend.retried_alone - before[4],
        })
        stats.counts["usage.cost_usd"] = round(spend.cost - before[3], 6)
        failed = {k: v for k, v in stats.dropped.items() if k != SKIPPED}
        if failed:
            log.warning("annotate %s: %d items failed (%s; first: %s); they are retried on the next run", shard.key,
                        sum(failed.values()), ", ".join(f"{k} {v}" for k, v in failed.items()),
                        next(e for e in errors if e)[:300])
        return stats

    def finish(self, ctx: StageContext, parts: list[Path], stats: Stats, out_dir: Path) -> Stats:
        stats = super().finish(ctx, parts, stats, out_dir)
        # the share of comments left unrated as unable to enter the dataset (annotate.scope)
        stats.counts["skipped_share"] = round(stats.dropped.get(SKIPPED, 0) / max(stats.records_in, 1), 4)
        return stats

    def failure_hint(self, config: Config) -> str:
        p = config.section(self.section)
        return backend(p["backend"]).where(p)

    def summary(self, manifest: dict) -> str:
        c = manifest.get("counts", {})
        skipped = manifest.get("dropped", {}).get(SKIPPED, 0)
        return ((f"{skipped} skipped as unable to enter the dataset ({100 * c.get('skipped_share', 0):.1f}%), "
                 if skipped else "") + f"{c.get('cached', 0)} cached, {c.get('requested', 0)} requested, "
                f"{c.get('usage.tokens_in', 0)} tokens in, {c.get('usage.tokens_out', 0)} out, "
                f"${c.get('usage.cost_usd', 0):.4f}")
