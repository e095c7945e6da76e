"""Where ingest_reddit's CPU goes, phase by phase, on real dump files: the breakdown that
bench/scale.py and bench/ingest.py record beside the whole-stage figures.

    python -m bench.ingest_breakdown FILE... [--set KEY=VALUE ...]   # prints one JSON object

Runs the stage's own functions (stages/ingest_reddit) on the files one after the other, in this
fresh process, on one parse thread, with the default config (plus overrides), timing each phase
in CPU seconds of the whole process (``time.process_time``: lingua's and polars' own threads
included) and wall seconds:

- ``read_parse``: decompress the file in chunks and parse them into raw columns (polars'
  NDJSON reader): the same work as the plain ``json.loads`` loop, to which it is compared;
- ``normalize_filters``: normalize every era to the schema and apply the record rules, without
  the English test;
- ``language_id``: the English test (``language_id``) on the records the other rules keep,
  its models' loading included (``language_id_model_load``: loading alone, once per process);
- ``near_duplicates``: MinHash band keys of the kept comments and the LSH walk;
- the rest of the stage (deduplication, thread links and prompts, parquet writes, process
  start and imports) is the stage's CPU seconds minus these: the caller subtracts.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import polars as pl

from alignx.dumps import dump_kind, iter_line_chunks
from pipeline.config import load_config
from stages.ingest_reddit.quality import MinHashIndex, is_english, lingua_detector
from stages.ingest_reddit.stage import _parse_chunk, bucket_count, filter_chunk, normalize


class Clock:
    """Sums CPU and wall seconds per phase."""

    def __init__(self):
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}

    def time(self, phase: str, fn, *args):
        c, w = time.process_time(), time.perf_counter()
        out = fn(*args)
        self.cpu[phase] = self.cpu.get(phase, 0.0) + time.process_time() - c
        self.wall[phase] = self.wall.get(phase, 0.0) + time.perf_counter() - w
        return out


def breakdown(files: list[Path], overrides: list[str] = ()) -> dict:
    """CPU and wall seconds per phase over ``files`` (see the module docstring)."""
    p = load_config(None, list(overrides)).section("ingest_reddit")
    buckets = bucket_count(p, files)
    clock = Clock()
    kept_comments = []
    if p["english_only"] and p["language_id"] == "lingua":
        from stages.ingest_reddit.quality import LINGUA_LANGUAGES
        clock.time("language_id_model_load", lambda: lingua_detector(LINGUA_LANGUAGES, False).detect_language_of(
            "the models load on first use"))
    no_language = {**p, "english_only": False}
    records = 0
    for path in files:
        kind = dump_kind(path)
        chunks = iter_line_chunks(path, p["chunk_mb"] << 20)
        while True:
            chunk = clock.time("read_parse", next, chunks, None)
            if chunk is None:
                break
            first, n, data = chunk
            raw, _ = clock.time("read_parse", _parse_chunk, data, first, n, path.name)
            records += raw.height

            def rules(raw=raw, kind=kind):
                df = normalize(raw, kind, buckets).with_columns(raw["created_utc"].is_not_null().alias("created_given"))
                return filter_chunk(df, no_language, None, None)

            df = clock.time("normalize_filters", rules)
            kept = df.filter(pl.col("drop_reason").is_null())
            if p["english_only"]:
                text = kept.select(pl.when(pl.col("kind") == "comment").then(pl.col("body"))
                                   .otherwise(pl.col("title") + "\n" + pl.col("body")))
                english = clock.time("language_id", is_english, text.to_series(), p["language_id"])
                kept = kept.filter(english)
            kept_comments.append(kept.filter(pl.col("kind") == "comment")
                                 .select("id", pl.col("body").alias("text"), "created_utc"))
    near = 0
    if p["near_duplicates"]:
        index = MinHashIndex(p["near_duplicate_threshold"], p["near_duplicate_num_perm"], p["near_duplicate_ngram"])
        keyed = clock.time("near_duplicates", lambda: pl.concat([index.keyed(k) for k in kept_comments]))
        near = clock.time("near_duplicates", index.resolve, keyed).height
    clock.cpu["language_id"] = clock.cpu.get("language_id", 0.0) + clock.cpu.get("language_id_model_load", 0.0)
    clock.wall["language_id"] = clock.wall.get("language_id", 0.0) + clock.wall.get("language_id_model_load", 0.0)
    return {"records": records, "near_duplicates": near,
            "cpu_seconds": {k: round(v, 2) for k, v in clock.cpu.items()},
            "wall_seconds": {k: round(v, 2) for k, v in clock.wall.items()}}


if __name__ == "__main__":
    args = sys.argv[1:]
    sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
    paths = [Path(a) for i, a in enumerate(args) if a != "--set" and (i == 0 or args[i - 1] != "--set")]
    print(json.dumps(breakdown(paths, sets)))
