"""Stage ``annotate``: 90-dimension preference intensities for every comment that can enter the dataset.

Config section ``[annotate]``. Upstream: ``anonymize`` (its ``threads``: comments with their
post). One shard per author bucket; shards run one after another in one process, since the
backend holds a model or runs its own bounded concurrency against an API.

Output ``ratings/bucket-NNN.parquet``: ``id``, ``link_id``, ``author``, ``ratings`` (90 int8 in
-2..2, null when failed), ``evidence`` (90 int8: 0 none, 1 weak, 2 strong; a rating without
evidence is 0), ``status`` ("ok" / "failed"), ``error`` (the reason), ``annotator``
(backend:model), ``annotator_version`` (the prompt's version for the LLM backends, the offline
instruments' version for ``embedding``), ``measures`` (struct of Float32 ``words``: word count,
``grade``: Flesch-Kincaid grade level, ``syllables_per_word`` and ``words_per_sentence``: its
inputs; the raw measures pair directions compare between
responses to the same text, alignx/directions.py rule 3; computed from the text by the offline
backend, null for the LLM backends). Failed items are kept with their reason, counted in the
manifest's ``dropped`` as ``failed_<kind>``, and retried on the next run. The manifest's
``counts`` hold ``cached``, ``requested``, ``usage.tokens_in``, ``usage.tokens_out``,
``usage.requests`` and ``usage.cost_usd`` (what this run spent), and ``ratings.tokens_in`` /
``ratings.tokens_out``: what the stage's ratings cost when they were made, from the rating cache
(the same whether they came from this run, an interrupted one or another build).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from alignx.llm import redact, refused_key_stops
from pipeline.config import Config
from pipeline.io import write_parquet
from pipeline.logs import get_logger
from pipeline.stage import Shard, Stage, StageContext, Stats
from annotators import ANNOTATOR, ANNOTATOR_TUNES, Annotator, backend, cache_path, make, make_spend
from annotators.measures import MEASURES_TYPE
from annotators.ratings import Item, RatingCache, Result, cache_key

log = get_logger("annotate")


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
    version = "9"  # 2: sparse ratings with evidence, annotator_version; 3: lexicon and static-embedding
    # instruments; 4: interests compete on topic similarity, the annotator version hashes the instruments' code;
    # 5: lexicons skip quoted lines, act lexicons for openness / inviolacy / honesty ..., rules refitted;
    # 6: the raw measures column (measures); 7: sources lexicon (truthfulness 43), openness lexicon
    # without praise of a point, rules refitted on 520 dev items: 43 and 4 rated; 8: 42 honesty no longer rated;
    # 9: measures gain syllables_per_word and words_per_sentence (complexity 46's refitted formula)
    upstream = ("anonymize",)
    uses = ANNOTATOR
    tunes = ANNOTATOR_TUNES
    unit = "comments"
    parallel = False
    description = "rate every comment on the 90 dimensions (-2..2, with evidence) with the configured annotator"

    def prepare(self, config: Config, data_dir: Path) -> None:
        self.spend = make_spend(config.section(self.section))

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
        keys = [cache_key(annotator.backend, annotator.model, annotator.version, it.post, it.response) for it in items]
        cached = cache.get_ok(keys)
        todo = list({k: (it, k) for it, k in zip(items, keys) if k not in cached}.values())  # one request per text
        results: dict[str, Result] = {k: Result(k, r, e) for k, (r, e) in cached.items()}
        before = (spend.tokens_in, spend.tokens_out, spend.requests, spend.cost)

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
        errors = [None if r is not None else redact(results[k].error if k in results else "not_annotated: interrupted")
                  for k, r in zip(keys, ratings)]
        out = df.select("id", "link_id", "author").with_columns(
            pl.Series("ratings", ratings, dtype=pl.List(pl.Int8)),
            pl.Series("evidence", evidence, dtype=pl.List(pl.Int8)),
            pl.Series("status", ["ok" if r is not None else "failed" for r in ratings]),
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
        rated = [k for k in dict.fromkeys(keys) if k in results and results[k].ok]
        needed_in, needed_out = cache.tokens(rated)
        stats.counts.update({
            # what the ratings cost when they were made (the dataset card's figure: the same for a
            # resumed or a cached build) and what this run spent (status)
            "ratings.tokens_in": needed_in, "ratings.tokens_out": needed_out,
            "cached": len(cached), "requested": len(todo),
            "usage.tokens_in": spend.tokens_in - before[0], "usage.tokens_out": spend.tokens_out - before[1],
            "usage.requests": spend.requests - before[2],
        })
        stats.counts["usage.cost_usd"] = round(spend.cost - before[3], 6)
        if stats.dropped:
            log.warning("annotate %s: %d items failed (%s; first: %s); they are retried on the next run", shard.key,
                        sum(stats.dropped.values()), ", ".join(f"{k} {v}" for k, v in stats.dropped.items()),
                        next(e for e in errors if e)[:300])
        return stats

    def failure_hint(self, config: Config) -> str:
        p = config.section(self.section)
        return backend(p["backend"]).where(p)

    def summary(self, manifest: dict) -> str:
        c = manifest.get("counts", {})
        return (f"{c.get('cached', 0)} cached, {c.get('requested', 0)} requested, "
                f"{c.get('usage.tokens_in', 0)} tokens in, {c.get('usage.tokens_out', 0)} out, "
                f"${c.get('usage.cost_usd', 0):.4f}")
