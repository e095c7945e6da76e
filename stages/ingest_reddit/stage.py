"""Stage ``ingest_reddit``: Reddit dumps of any era -> normalized, filtered threads per author bucket.

Config section ``[ingest_reddit]``. Inputs: ``ingest_reddit.inputs`` (directories, files or globs of
``RC_*.zst`` / ``RS_*.zst`` monthly dumps, ``<sub>_comments.zst`` / ``<sub>_submissions.zst``,
or plain ``.ndjson`` / ``.jsonl`` / ``.json`` line files).

Shards: one per input file (largest first). Each shard streams its file in chunks, parses them
with polars' NDJSON reader (falling back to line-by-line parsing only for chunks holding bad or
blank lines), normalizes every era to the schema below and applies the per-record filters.
``finish`` removes duplicate ids, joins comments to their submissions and writes the tables
partitioned by a stable hash of the author, so later per-user work is shard-local.

Normalized schema (every era):

==================  ========  ===================================================================
column              type      meaning
==================  ========  ===================================================================
kind                str       "comment" or "submission"
id                  str       base-36 id without ``t1_`` / ``t3_`` prefix (from ``id`` or ``name``)
author              str       username as in the dump
author_fullname     str?      ``t2_`` account id where the era has it
subreddit           str       subreddit name as in the dump
created_utc         i64       seconds since epoch (dumps hold int, float or str)
edited_utc          i64?      when it was edited (null: never; 0: edited, time unknown)
score               i64?
distinguished       str?      "moderator", "admin", ... or null
stickied            bool
over_18             bool      submissions only (comments: false)
deleted_later       bool      Arctic Shift ``_meta.was_deleted_later`` / ``removed_by_category``
body                str       comment body; for submissions the selftext ("" for link posts)
title               str       submissions only ("" for comments)
link_id             str       comments: the submission id (no prefix); submissions: own id
parent_id           str       comments: parent id (no prefix); submissions: ""
is_top_level        bool      comments whose parent is the submission
source_file         str       input file name (provenance)
source_line         i64       1-based line in the decompressed file (provenance)
bucket              i32       crc32(author) mod the bucket count (``bucket_count``)
==================  ========  ===================================================================

Outputs (``data/work/ingest_reddit/out-*/``):

- ``threads/bucket-NNN.parquet``: kept comments joined to their submission (``post_title``,
  ``post_body``, ``post_author``, ``prompt`` = body then title, as AlignX builds prompts, then
  the parent chain). A templated post (a recurring thread's boilerplate body, as auto-posted
  daily discussions repeat it: ``quality.templated_posts``, ``templated_min_posts``; counted as
  ``templated_post_bodies``) has ``post_body`` "" here, so its comments' prompts hold its title
  alone; its body stays in ``submissions``. ``recurring_post`` is true for the comments of a
  post of a series: a templated body, or a title with a digit whose dates and numbers aside at
  least ``templated_min_posts`` posts of the subreddit share (``quality.recurring_titles``,
  counted as ``recurring_title_posts``; ``recurring_posts`` counts both kinds). Its top-level
  comments answer nothing in common: assemble never pairs them.
- ``orphans/bucket-NNN.parquet``: kept comments whose submission is not in the inputs.
- ``submissions/part-000.parquet``: kept submissions.
- ``users/users.parquet``: per author: eligible comments, posts, distinct threads, subreddits.
- ``authors/authors.parquet``: every author name in the inputs, dropped records included (the
  anonymizer scrubs all of them from text).
- ``forgotten/ngrams.parquet``: keyed hashes of the word 8-grams of the texts of people who
  asked to be forgotten (``alignx.privacy.forget``): anonymize removes passages quoting them.
- ``rejects/<file>.jsonl``: lines that are not JSON objects, with file, line and reason.

Drop reasons (the manifest's ``dropped``; each record counted once, by the first rule it fails,
in this order): ``malformed_json``, ``opted_out`` (the author asked to be forgotten: ``alignx
forget``; only keyed hashes of their names are stored), ``missing_id``, ``bad_created_utc`` (there,
but not seconds since the epoch: an ISO date...), ``missing_created_utc``, ``unknown_kind``,
``missing_body`` (a comment without ``body``, or ``"body": null``), ``missing_link_id`` (a comment
that names no submission), ``deleted_later``,
``deleted_body``, ``removed_body``, ``deleted_author``, ``bot``, ``distinguished``, ``stickied``,
``nsfw``, ``subreddit_denied``, ``subreddit_not_allowed``, ``date_out_of_range``,
``score_out_of_range``, ``too_short``, ``too_long``, ``non_english``, ``duplicate_id``,
``in_filtered_post`` (a comment whose submission was dropped by a rule above), ``near_duplicate``
(a comment repeating an earlier one: MinHash LSH, ``stages/ingest_reddit/quality.py``),
``parent_unavailable`` (a reply whose parent comment was dropped or is missing, and its subtree).
"""

from __future__ import annotations

import io
import os
import tempfile
import zlib
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from pathlib import Path

import orjson
import polars as pl

from alignx.dumps import DUMP_SUFFIXES, dump_kind, iter_line_chunks, parse_lines, prefetch
from pipeline.errors import UserError
from pipeline.io import atomic_path, sha256_file, write_parquet
from pipeline.manifest import resolve
from pipeline.logs import get_logger
from stages.ingest_reddit.quality import MinHashIndex, is_english, recurring_titles, templated_posts
from alignx.threads import ancestor_ids, prompt_expr, reachable_replies
from alignx.privacy import load_key, load_optout, opted_out_names, optout_id
from alignx.privacy.forget import texts_ngrams
from pipeline.stage import Shard, Stage, StageContext, Stats, keys

log = get_logger("ingest_reddit")

#: Raw fields read from every record; everything is read as a string and cast during
#: normalization, because eras disagree on types (created_utc: int, float or str...).
RAW_FIELDS = (
    "id", "name", "author", "author_fullname", "subreddit", "created_utc", "edited", "score",
    "distinguished", "stickied", "over_18", "body", "title", "selftext", "link_id", "parent_id",
    "removed_by_category",
)
RAW_SCHEMA = {f: pl.String for f in RAW_FIELDS} | {
    "_meta": pl.Struct({"was_deleted_later": pl.String, "removal_type": pl.String})
}
DELETED = "[deleted]"
REMOVED = "[removed]"
#: ``removed_by_category`` values (Pushshift, 2018 on) that say the author or Reddit took the
#: item down; "moderator" and "automod_filtered" removals hide the body but leave the thread public.
TAKEN_DOWN = ["deleted", "author", "reddit", "anti_evil_ops", "copyright_takedown", "content_takedown"]
def author_bucket(author: str, buckets: int) -> int:
    """Stable bucket of an author (crc32, identical across runs, machines and versions)."""
    return zlib.crc32(author.encode("utf-8")) % buckets


def bucket_count(p: dict, inputs: list[Path]) -> int:
    """The number of author buckets: ``author_buckets``, or when it is 0 one bucket per
    ``auto_bucket_mb`` of input files on disk, at least 8, rounded up to a power of two. Combining
    holds one bucket in memory, so this keeps it bounded whatever the input size; it depends
    on the inputs only, so every shard and ``finish`` agree."""
    if p["author_buckets"]:
        return p["author_buckets"]
    total = sum(Path(f).stat().st_size for f in inputs)
    need = max(8, -(-total // (p["auto_bucket_mb"] << 20)))
    return 1 << (need - 1).bit_length()


def author_buckets(authors: pl.Series, buckets: int) -> pl.Series:
    """``author_bucket`` of every row, hashing each distinct name once."""
    names = authors.unique()
    values = pl.Series([author_bucket(a, buckets) for a in names.to_list()], dtype=pl.Int32)
    # cast: polars 2.1 returns an empty String series for no rows (a chunk of garbage lines),
    # whose parts then fail to concatenate with the others'
    return authors.replace_strict(names, values, return_dtype=pl.Int32).cast(pl.Int32)


def _to_epoch(day: str, key: str) -> int | None:
    if not day:
        return None
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise UserError(f"{key}: '{day}' is not a date like 2024-01-31") from None
    return int(datetime(d.year, d.month, d.day, tzinfo=timezone.utc).timestamp())


def _strip_prefix(col: str) -> pl.Expr:
    return pl.col(col).str.replace(r"^t[1-6]_", "")


def _bool(col: str) -> pl.Expr:
    return pl.col(col).str.to_lowercase().is_in(["true", "1"]).fill_null(False)


def normalize(raw: pl.DataFrame, file_kind: str | None, buckets: int) -> pl.DataFrame:
    """Raw string columns (RAW_SCHEMA plus ``source_file``/``source_line``) -> the normalized schema."""
    if file_kind is None:  # plain line files: tell records apart by their fields
        kind = (
            pl.when(pl.col("title").is_not_null()).then(pl.lit("submission"))
            .when(pl.col("body").is_not_null() | pl.col("link_id").is_not_null()).then(pl.lit("comment"))
            .otherwise(pl.lit(None))
        )
    else:
        kind = pl.lit(file_kind)
    meta = pl.col("_meta").struct
    df = raw.with_columns(kind.alias("kind")).with_columns(
        pl.coalesce(_strip_prefix("id"), _strip_prefix("name")).alias("id"),
        pl.col("author").fill_null(DELETED),
        pl.col("subreddit").fill_null(""),
        pl.col("created_utc").cast(pl.Float64, strict=False).cast(pl.Int64).alias("created_utc"),
        pl.when(pl.col("edited").is_null() | pl.col("edited").str.to_lowercase().is_in(["false", "0"]))
        .then(pl.lit(None, pl.Int64))
        .when(pl.col("edited").str.to_lowercase() == "true").then(pl.lit(0, pl.Int64))
        .otherwise(pl.col("edited").cast(pl.Float64, strict=False).cast(pl.Int64))
        .alias("edited_utc"),
        pl.col("score").cast(pl.Float64, strict=False).cast(pl.Int64).alias("score"),
        _bool("stickied").alias("stickied"),
        (_bool("over_18") & (pl.col("kind") == "submission")).alias("over_18"),
        (
            meta.field("was_deleted_later").str.to_lowercase().eq("true").fill_null(False)
            | pl.col("removed_by_category").is_in(TAKEN_DOWN).fill_null(False)
        ).alias("deleted_later"),
        pl.when(pl.col("kind") == "submission").then(pl.col("selftext").fill_null(""))
        .otherwise(pl.col("body")).alias("body"),
        pl.col("title").fill_null("").alias("title"),
        pl.when(pl.col("kind") == "submission")
        .then(pl.coalesce(_strip_prefix("id"), _strip_prefix("name")))
        .otherwise(_strip_prefix("link_id")).alias("link_id"),
        pl.when(pl.col("kind") == "submission").then(pl.lit(""))
        .otherwise(_strip_prefix("parent_id").fill_null("")).alias("parent_id"),
        (pl.col("parent_id").str.starts_with("t3_") | (_strip_prefix("parent_id") == _strip_prefix("link_id")))
        .fill_null(False).alias("is_top_level"),
    )
    df = df.with_columns(author_buckets(df["author"], buckets).alias("bucket"))
    return df.select(
        "kind", "id", "author", "author_fullname", "subreddit", "created_utc", "edited_utc", "score",
        "distinguished", "stickied", "over_18", "deleted_later", "body", "title", "link_id", "parent_id",
        "is_top_level", "source_file", "source_line", "bucket",
    )


#: Columns computed for ``drop_reason`` only, never written.
HELPER_COLUMNS = ("text", "english", "opted_out", "created_given")


def drop_reason(df: pl.DataFrame, p: dict) -> pl.Expr:
    """The first filter rule a normalized record fails, or null when it is kept.

    ``df`` must hold the normalized schema plus the ``HELPER_COLUMNS``: ``text`` (body, or
    title + body for posts), ``english``, ``opted_out`` and ``created_given`` (the record has
    a ``created_utc``, parsed or not).
    """
    is_comment = pl.col("kind") == "comment"
    # a post whose body is gone keeps its thread (the title is the prompt) unless switched off
    body_rule = is_comment | pl.lit(not p["keep_removed_posts"])
    text = pl.col("text")
    body = pl.col("body").str.strip_chars()
    sub = pl.col("subreddit").str.to_lowercase()
    allow = [s.lower() for s in p["subreddits_allow"]]
    deny = [s.lower() for s in p["subreddits_deny"]]
    bots = list(p["bot_names"])
    start = _to_epoch(p["date_from"], "ingest_reddit.date_from")
    end = _to_epoch(p["date_to"], "ingest_reddit.date_to")
    rules: list[tuple[str, pl.Expr]] = [
        ("opted_out", pl.col("opted_out")),
        ("missing_id", pl.col("id").is_null()),
        # a created_utc that is there but no number of seconds (an ISO date...), or none at all
        ("bad_created_utc", pl.col("created_given") & pl.col("created_utc").is_null()),
        ("missing_created_utc", pl.col("created_utc").is_null()),
        ("unknown_kind", pl.col("kind").is_null()),
        ("missing_body", is_comment & pl.col("body").is_null()),
        ("missing_link_id", is_comment & (pl.col("link_id").is_null() | (pl.col("link_id") == ""))),
        ("deleted_later", pl.lit(p["drop_deleted_later"]) & pl.col("deleted_later")),
        ("deleted_body", body_rule & (body == DELETED)),
        ("removed_body", body_rule & (body == REMOVED)),
        ("deleted_author", is_comment & (pl.col("author") == DELETED)),
        ("bot", pl.col("author").is_in(bots) | pl.col("author").str.contains(p["bot_pattern"])),
        ("distinguished", pl.col("distinguished").is_in(list(p["drop_distinguished"])).fill_null(False)),
        ("stickied", pl.lit(p["drop_stickied"]) & pl.col("stickied")),
        ("nsfw", pl.lit(p["drop_nsfw"]) & pl.col("over_18")),
        ("subreddit_denied", sub.is_in(deny) if deny else pl.lit(False)),
        ("subreddit_not_allowed", ~sub.is_in(allow) if allow else pl.lit(False)),
        ("date_out_of_range", (pl.col("created_utc") < (start if start is not None else -(2**62)))
         | (pl.col("created_utc") >= (end if end is not None else 2**62))),
        ("score_out_of_range", pl.col("score").is_not_null()
         & ((pl.col("score") < p["min_score"]) | (pl.col("score") > p["max_score"]))),
        ("too_short", is_comment & (pl.col("body").str.len_chars() < p["min_length"])),
        ("too_long", text.str.len_chars() > p["max_length"]),
        ("non_english", pl.lit(p["english_only"]) & ~pl.col("english")),
    ]
    expr = pl.lit(None, pl.String)
    for reason, cond in reversed(rules):
        expr = pl.when(cond.fill_null(False)).then(pl.lit(reason)).otherwise(expr)
    return expr


def _parse_chunk(data: bytes, first_line: int, n_lines: int, source: str) -> tuple[pl.DataFrame, list[dict]]:
    """Parse one chunk of NDJSON into raw columns; returns (frame, rejected lines).

    The fast path hands the chunk to polars; a chunk with blank or malformed lines takes the
    slow path, which finds the bad lines with orjson so every good line keeps its number.
    """
    try:
        df = pl.read_ndjson(io.BytesIO(data), schema=RAW_SCHEMA)
        if df.height == n_lines:  # polars skips blank lines: then numbering needs the slow path
            return df.with_columns(
                pl.lit(source).alias("source_file"),
                pl.int_range(first_line, first_line + df.height, dtype=pl.Int64).alias("source_line"),
            ), []
    except pl.exceptions.PolarsError:
        pass
    good, numbers, rejects = [], [], []
    for number, rec, line in parse_lines(data, first_line):
        if isinstance(rec, Exception):
            rejects.append({"file": source, "line": number, "reason": f"malformed_json: {rec}",
                            "text": line[:300].decode("utf-8", "replace")})
            continue
        fields = {k: rec[k] for k in RAW_FIELDS if k in rec and not isinstance(rec[k], (dict, list))}
        if isinstance(rec.get("_meta"), dict):
            fields["_meta"] = rec["_meta"]
        good.append(orjson.dumps(fields))
        numbers.append(number)
    if not good:
        return pl.DataFrame(schema=RAW_SCHEMA | {"source_file": pl.String, "source_line": pl.Int64}), rejects
    df = pl.read_ndjson(io.BytesIO(b"\n".join(good)), schema=RAW_SCHEMA)
    return df.with_columns(pl.lit(source).alias("source_file"), pl.Series("source_line", numbers, pl.Int64)), rejects


def write_scratch(df: pl.DataFrame, path: Path) -> None:
    """A shard part read once by ``finish``: uncompressed Arrow IPC, written and read at memory
    speed (parquet with lz4 costs 5x the CPU). Disk: about the size of the kept text."""
    with atomic_path(path) as tmp:
        df.write_ipc(tmp, compression="uncompressed")


# the text a record shows: a comment's body; a post's title, then its body
RECORD_TEXT = pl.when(pl.col("kind") == "comment").then(pl.col("body")).otherwise(pl.col("title") + "\n" + pl.col("body"))
NGRAM_SCHEMA = {"ngram": pl.Int64}


def forgotten_ngrams(df: pl.DataFrame, key: bytes) -> pl.DataFrame:
    """Filtered records (``drop_reason`` set) -> ``ngram`` (i64, sorted, unique): keyed hashes of the
    word 8-grams of the opted-out people's texts (``alignx.privacy.forget``), so anonymize can
    remove passages of other comments that quote them. ``opted_out`` is the first rule after
    ``malformed_json``, so every record of such a person carries that reason."""
    texts = df.filter(pl.col("drop_reason") == "opted_out").select(RECORD_TEXT.alias("text"))["text"].to_list()
    return pl.DataFrame({"ngram": sorted(texts_ngrams(texts, key))}, schema=NGRAM_SCHEMA)


def filter_chunk(df: pl.DataFrame, p: dict, key: bytes | None, optout) -> pl.DataFrame:
    """Normalized records -> the same plus ``drop_reason`` (null: kept).

    The English test (``language_id``: lingua or the heuristic) is the last rule and the costliest, so it runs
    only on the records that pass every other rule: the reasons are the same as testing all.
    """
    opted = opted_out_names(df["author"].unique().to_list(), key, optout) if optout else set()
    df = df.with_columns(RECORD_TEXT.alias("text"), pl.lit(True).alias("english"),
                         pl.col("author").is_in(sorted(opted)).alias("opted_out"))
    df = df.with_columns(drop_reason(df, p).alias("drop_reason"))
    if p["english_only"]:
        candidates = df["drop_reason"].is_null()
        english = is_english(df["text"].filter(candidates), p["language_id"])
        reason = df["drop_reason"].scatter(candidates.arg_true().filter(~english), "non_english")
        df = df.with_columns(reason.alias("drop_reason"))
    return df.drop(*HELPER_COLUMNS)


def verify_checksums(inputs: list[Path], listing: Path) -> None:
    """Check every input named in ``listing`` (``<sha256>  <name>`` lines, as ``sha256sum`` writes
    them and as hashes are published beside the dump torrents) before anything is read.
    A mismatch is a UserError naming the file; an input the listing does not name is logged."""
    try:
        lines = listing.read_text().splitlines()
    except OSError as exc:
        raise UserError(f"ingest_reddit.checksums: cannot read {listing} ({exc.strerror})") from None
    expected = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().lstrip("*")  # sha256sum's binary-mode marker
        if len(digest) != 64 or not name:
            raise UserError(f"{listing} line {n}: expected '<sha256>  <file name>', got {line[:80]!r}")
        expected[Path(name).name] = digest.lower()
    for path in inputs:
        want = expected.get(path.name)
        if want is None:
            log.warning("%s is not listed in %s: not verified", path, listing)
            continue
        got = sha256_file(path)
        if got != want:
            raise UserError(f"{path}: sha256 {got} differs from {want} listed in {listing}: the file is damaged "
                            f"or not the published one; download it again")
    log.info("ingest_reddit: %d inputs verified against %s", sum(p.name in expected for p in inputs), listing)


class IngestReddit(Stage):
    name = "ingest_reddit"
    #: 2: missing_body, missing_link_id, bad_created_utc dropped and counted; 3: prompts carry the
    #: parent chain, removed post bodies keep their threads, near_duplicate and parent_unavailable
    #: 4: forgotten/ngrams.parquet (quotes of forgotten people, removed by anonymize)
    #: 5: non_english decided by lingua (language_id), see bench/results/language_id.json
    #: 6: templated posts (recurring boilerplate bodies) give their comments the title alone as prompt
    #: 7: near-duplicate shingles hashed per word (sha1 of each distinct word, folded per shingle:
    #: ``quality.shingle_hash``), not sha1 per shingle: clusters differ slightly from datasketch's
    #: (bench/results/ingest.json); plain-English shortcut widened (english_words.txt); lingua's
    #: low-accuracy mode screens, high accuracy confirms (``quality.lingua_english``)
    #: 8: threads carry ``recurring_post`` (a templated body or a recurring dated/numbered title)
    version = "8"
    unit = "records"  # lines of the dumps (a malformed line counts as one)
    input_keys = ("ingest_reddit.inputs",)
    uses = (*keys("ingest_reddit", "max_bad_line_share", "checksums", "allow_empty_inputs", "drop_deleted_later",
                  "bot_names", "bot_pattern", "drop_distinguished", "drop_stickied", "drop_nsfw", "min_length",
                  "max_length", "min_score", "max_score", "english_only", "language_id", "subreddits_allow",
                  "subreddits_deny", "date_from", "date_to", "keep_removed_posts", "prompt_depth", "prompt_max_chars",
                  "templated_min_posts", "near_duplicates", "near_duplicate_threshold", "near_duplicate_num_perm",
                  "near_duplicate_ngram", "author_buckets", "auto_bucket_mb"),
            "anonymize.key_file")  # the opt-out list is keyed
    tunes = keys("ingest_reddit", "chunk_mb", "parse_threads")  # same bytes out (test_ingest_reddit)
    description = "Reddit dumps (any era) -> normalized, filtered threads, partitioned by author"

    def accepts_input(self, path: Path) -> bool:
        return not path.name.startswith(".") and path.name.endswith(DUMP_SUFFIXES)

    def fingerprint_extra(self, config, data_dir: Path) -> dict[str, str]:
        return {"optout": optout_id(data_dir)}

    def shards(self, ctx: StageContext) -> list[Shard]:
        if ctx.params["checksums"]:
            verify_checksums(ctx.inputs, resolve(ctx.data_dir, ctx.params["checksums"]))
        return [Shard(p.name, (str(p),), weight=p.stat().st_size) for p in ctx.inputs]

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        """Parse, normalize and filter one file, a few chunks at a time on ``parse_threads``
        threads (memory: about ``parse_threads + 2`` chunks, whatever the file size).

        One thread decompresses and cuts the stream into line-aligned chunks; the others parse
        and filter whole chunks in polars, which releases the GIL, so a single monthly dump uses
        every core. Per chunk ``i`` it writes ``posts-i.arrow`` (kept submissions),
        ``comments-i-bBBB.arrow`` (kept comments of author bucket BBB, so ``finish`` reads one
        bucket's files only), ``dropped-i.arrow`` (kind, id and reason of dropped records, so
        comments of dropped posts can be dropped too), ``minhash-i.arrow`` (the LSH band keys of the
        kept comments, so near-duplicates are hashed here, in parallel, and ``finish`` never
        reads their text for it), ``authors-i.arrow`` and, when someone
        asked to be forgotten, ``forgotten-i.arrow`` (n-gram hashes of their texts); and
        ``rejects.jsonl`` for lines that are not JSON objects. Files are named by chunk, and
        chunks are counted in file order, so the outputs do not depend on thread timing.
        """
        p = ctx.params
        path = Path(shard.inputs[0])
        kind = dump_kind(path)
        stats = Stats()
        rejects: list[dict] = []
        optout = load_optout(ctx.data_dir)  # people who asked to be forgotten: dropped before any rule
        key = load_key(ctx.data_dir / ctx.config["anonymize.key_file"], create=False) if optout else None
        if optout and key is None:
            raise UserError(f"{ctx.data_dir / 'private/optout.txt'} lists people to forget but the pseudonymization "
                            f"key is missing; restore the key the list was made with")

        def work(i: int, first_line: int, n_lines: int, data: bytes) -> tuple[int, list[dict], Counter, int, int]:
            raw, bad = _parse_chunk(data, first_line, n_lines, path.name)
            del data
            # created_given: the record has a created_utc, parsed or not (bad_created_utc)
            df = normalize(raw, kind, buckets).with_columns(raw["created_utc"].is_not_null().alias("created_given"))
            df = filter_chunk(df, p, key, optout)
            dropped = df.filter(pl.col("drop_reason").is_not_null())
            kept = df.filter(pl.col("drop_reason").is_null()).drop("drop_reason")
            # a kept post whose body was removed (keep_removed_posts): its title is the prompt
            gone = (pl.col("kind") == "submission") & pl.col("body").str.strip_chars().is_in([DELETED, REMOVED])
            body_removed = kept.filter(gone).height
            kept = kept.with_columns(pl.when(gone).then(pl.lit("")).otherwise(pl.col("body")).alias("body"))
            write_scratch(kept.filter(pl.col("kind") == "submission"), out_dir / f"posts-{i:05d}.arrow")
            for (b,), part in kept.filter(pl.col("kind") == "comment").partition_by("bucket", as_dict=True).items():
                write_scratch(part, out_dir / f"comments-{i:05d}-b{b:03d}.arrow")
            write_scratch(dropped.select("kind", "id", "link_id", "drop_reason"), out_dir / f"dropped-{i:05d}.arrow")
            if minhash:  # band keys of the kept comments, while their text is in memory
                write_scratch(minhash.keyed(kept.filter(pl.col("kind") == "comment")
                                            .select("id", pl.col("body").alias("text"), "created_utc")),
                              out_dir / f"minhash-{i:05d}.arrow")
            write_scratch(df.select(pl.col("author").unique()), out_dir / f"authors-{i:05d}.arrow")
            if optout:
                write_scratch(forgotten_ngrams(dropped, key), out_dir / f"forgotten-{i:05d}.arrow")
            return raw.height + len(bad), bad, Counter(dict(dropped.group_by("drop_reason").len().iter_rows())), \
                kept.height, body_removed

        buckets = bucket_count(p, ctx.inputs)
        minhash = (MinHashIndex(p["near_duplicate_threshold"], p["near_duplicate_num_perm"], p["near_duplicate_ngram"])
                   if p["near_duplicates"] else None)
        threads = p["parse_threads"] or os.cpu_count() or 1
        chunks = prefetch(iter_line_chunks(path, p["chunk_mb"] << 20))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            pending: deque = deque()
            for i, chunk in enumerate(chunks):
                pending.append(pool.submit(work, i, *chunk))
                while len(pending) >= threads or (pending and pending[0].done()):
                    self._count(pending.popleft().result(), stats, rejects)
            while pending:
                self._count(pending.popleft().result(), stats, rejects)
        stats.dropped["malformed_json"] += len(rejects)
        if stats.records_in == 0 and not p["allow_empty_inputs"]:
            size = path.stat().st_size
            raise UserError(
                f"{path}: the dump holds no records ({size:,} bytes{', an empty file' if size == 0 else ''}); "
                f"an interrupted download? Remove it from ingest_reddit.inputs, or accept empty dumps with "
                f"--set ingest_reddit.allow_empty_inputs=true")
        if stats.records_in and len(rejects) / stats.records_in > p["max_bad_line_share"]:
            first = rejects[0]
            raise UserError(
                f"{path}: {len(rejects)} of {stats.records_in} lines are not JSON objects "
                f"(more than ingest_reddit.max_bad_line_share={p['max_bad_line_share']}); first at line "
                f"{first['line']}: {first['reason']}. Is this a Reddit dump? Raise the share to accept it."
            )
        for r in rejects[:5]:
            log.warning("%s line %d: %s (written to rejects)", r["file"], r["line"], r["reason"])
        if rejects:
            (out_dir / "rejects.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rejects))
        return stats

    @staticmethod
    def _count(result: tuple[int, list[dict], Counter, int, int], stats: Stats, rejects: list[dict]) -> None:
        """Add one chunk's counts (taken in chunk order) to the shard's."""
        records_in, bad, dropped, kept, body_removed = result
        stats.records_in += records_in
        rejects += bad
        stats.dropped.update(dropped)
        stats.records_out += kept
        stats.counts["post_body_removed"] += body_removed

    def finish(self, ctx: StageContext, parts: list[Path], stats: Stats, out_dir: Path) -> Stats:
        """Deduplicate, join comments to submissions and write per-author-bucket tables.

        Memory does not hold the comments' text: near-duplicates read the band keys the shards
        wrote (~100 bytes per comment: ``MinHashIndex``); thread links keep
        ids only (id, parent_id, link_id: ~60 bytes per comment); the bodies of parent chains
        are spilled to a scratch file; then one author bucket of comments is read at a time.
        Duplicates are found within a bucket: two copies of one comment share an author (a copy
        whose author was deleted was already dropped by the filters).
        """
        p = ctx.params
        post_files = [f for part in parts for f in sorted(part.glob("posts-*.arrow"))]
        if not post_files:
            fail_if_nothing_kept(stats, p)
            return stats
        stats.records_out = 0
        all_posts = pl.read_ipc(post_files)
        posts = all_posts.unique(subset="id", keep="first", maintain_order=True)
        stats.dropped["duplicate_id"] += all_posts.height - posts.height
        post_cols = self._post_columns(posts, p, stats)
        buckets = bucket_count(p, ctx.inputs)
        totals, users = self._write_threads(parts, posts, all_posts.schema, post_cols, buckets, p, stats, out_dir)
        stats.counts.update(totals)
        stats.records_out = posts.height + totals["comments"]
        if not stats.records_out:
            fail_if_nothing_kept(stats, p)
        write_parquet(posts.sort("created_utc", "id"), out_dir / "submissions" / "part-000.parquet")
        per_post = posts.group_by("author").agg(pl.len().alias("n_posts"))
        write_parquet(users_table(users, per_post, buckets), out_dir / "users" / "users.parquet")
        stats.counts["authors_seen"] = self._write_authors(parts, out_dir)
        self._write_forgotten(parts, out_dir)
        self._copy_rejects(parts, out_dir)
        return stats

    @staticmethod
    def _post_columns(posts: pl.DataFrame, p: dict, stats: Stats) -> pl.DataFrame:
        """The post's columns each of its comments carries (link_id, post_title, post_body,
        post_author, post_score); a templated body is left out (``templated_post_bodies``)."""
        # a recurring thread's boilerplate body (a daily discussion's rules and calendar) says nothing
        # about what its comments answer: their prompts get the title alone (submissions keep the body)
        templated = templated_posts(posts.select("id", "subreddit", "body", "created_utc"),
                                    p["templated_min_posts"]).implode()
        stats.counts["templated_post_bodies"] = templated.list.len().item()
        # a post of a series (a templated body, or a dated or numbered title that recurs) asks
        # nothing its top-level comments answer in common: assemble never pairs them
        series = recurring_titles(posts.select("id", "subreddit", "title"), p["templated_min_posts"]).implode()
        stats.counts["recurring_title_posts"] = series.list.len().item()
        post_cols = posts.select(
            pl.col("id").alias("link_id"),
            pl.col("title").alias("post_title"),
            pl.when(pl.col("id").is_in(templated)).then(pl.lit("")).otherwise(pl.col("body")).alias("post_body"),
            pl.col("author").alias("post_author"),
            pl.col("score").alias("post_score"),
            (pl.col("id").is_in(templated) | pl.col("id").is_in(series)).alias("recurring_post"),
        )
        stats.counts["recurring_posts"] = int(post_cols["recurring_post"].sum())
        return post_cols

    def _write_threads(self, parts: list[Path], posts: pl.DataFrame, schema: pl.Schema, post_cols: pl.DataFrame,
                       buckets: int, p: dict, stats: Stats, out_dir: Path) -> tuple[Counter, pl.DataFrame | None]:
        """Every kept comment, one author bucket at a time: ``threads/`` (with its post and
        prompt) and ``orphans/`` (its post is not in the inputs). Returns the counts and each
        author's comment counts (None without comments)."""
        post_ids = posts["id"].implode()
        dropped_files = [f for part in parts for f in sorted(part.glob("dropped-*.arrow"))]
        filtered_post_ids = (
            pl.scan_ipc(dropped_files).filter(pl.col("kind") == "submission").select("id").collect()["id"]
            .implode()
        )
        # near-duplicates and thread links span buckets: the first reads the shards' band keys, the
        # second a few columns of every comment part (lazily); then each bucket is read whole once
        comment_files = [f for part in parts for f in sorted(part.glob("comments-*.arrow"))]
        near_dups = self._near_duplicates(parts, p, stats)["id"].implode()
        records = (pl.scan_ipc(comment_files) if comment_files else pl.LazyFrame(schema=schema)
                   ).filter(~pl.col("id").is_in(near_dups))
        depth = p["prompt_depth"]
        # scratch inside the output folder: gone before it is promoted, and with it if the run dies
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".scratch-") as scratch:
            links = self._thread_links(records, post_ids, depth, Path(scratch) / "chain-bodies.arrow")
            stats.dropped["parent_unavailable"] += links["unlinked"]
            kept_ids, threads_seen, users = [], [], []
            totals = Counter()
            for b in range(buckets):
                files = [f for part in parts for f in sorted(part.glob(f"comments-*-b{b:03d}.arrow"))]
                raw = pl.read_ipc(files) if files else pl.DataFrame(schema=schema)
                bucket = raw.unique(subset="id", keep="first", maintain_order=True)
                stats.dropped["duplicate_id"] += raw.height - bucket.height
                del raw
                # counted as near_duplicate above (once per id; copies of one are duplicate_id)
                bucket = bucket.filter(~pl.col("id").is_in(near_dups))
                in_filtered = pl.col("link_id").is_in(filtered_post_ids) & ~pl.col("link_id").is_in(post_ids)
                stats.dropped["in_filtered_post"] += bucket.filter(in_filtered).height
                in_thread = pl.col("link_id").is_in(post_ids)
                unlinked = in_thread & ~pl.col("id").is_in(links["linked"])
                comments = bucket.filter(~in_filtered & ~unlinked).sort("link_id", "created_utc", "id")
                threads = self._with_prompts(comments.filter(in_thread).join(post_cols, on="link_id", how="inner",
                                                                             maintain_order="left"),
                                             links, depth, p["prompt_max_chars"])
                orphans = comments.filter(~in_thread)
                for name, table in (("threads", threads), ("orphans", orphans)):
                    if table.height:
                        write_parquet(table, out_dir / name / f"bucket-{b:03d}.parquet")
                # buckets split authors: each author's counts come from one bucket
                users.append(comments.group_by("author").agg(
                    pl.len().alias("n_comments"),
                    pl.col("link_id").n_unique().alias("n_threads"),
                    pl.col("subreddit").n_unique().alias("n_subreddits"),
                ))
                kept_ids.append(comments.select("id", "parent_id", "is_top_level"))
                threads_seen.append(threads["link_id"].unique())
                totals.update({
                    "comments": comments.height, "thread_comments": threads.height, "orphan_comments": orphans.height,
                    "top_level_comments": int(threads["is_top_level"].sum()),
                    "replies": int((~threads["is_top_level"]).sum()),
                })
        ids = pl.concat(kept_ids) if kept_ids else pl.DataFrame(schema={"id": pl.String, "parent_id": pl.String,
                                                                         "is_top_level": pl.Boolean})
        totals["submissions"] = posts.height
        totals["threads"] = pl.concat(threads_seen).n_unique() if threads_seen else 0
        totals["replies_with_parent"] = ids.filter(
            ~pl.col("is_top_level") & pl.col("parent_id").is_in(ids["id"].implode())
        ).height
        return totals, (pl.concat(users) if users else None)

    @staticmethod
    def _write_authors(parts: list[Path], out_dir: Path) -> int:
        """Every author in the inputs, kept or not (the anonymizer's dictionary of names); how many."""
        authors = (pl.scan_ipc([f for part in parts for f in sorted(part.glob("authors-*.arrow"))])
                   .filter(pl.col("author") != DELETED).unique().sort("author").collect())
        write_parquet(authors, out_dir / "authors" / "authors.parquet")
        return authors.height

    @staticmethod
    def _write_forgotten(parts: list[Path], out_dir: Path) -> None:
        """The n-grams of forgotten users' texts the shards found (for anonymize's check)."""
        forgotten_files = [f for part in parts for f in sorted(part.glob("forgotten-*.arrow"))]
        forgotten = (pl.scan_ipc(forgotten_files).unique().sort("ngram").collect() if forgotten_files
                     else pl.DataFrame(schema=NGRAM_SCHEMA))
        write_parquet(forgotten, out_dir / "forgotten" / "ngrams.parquet")

    @staticmethod
    def _copy_rejects(parts: list[Path], out_dir: Path) -> None:
        """Each shard's rejected records (``rejects.jsonl``), one file per input."""
        for part in parts:
            if (part / "rejects.jsonl").exists():
                dst = out_dir / "rejects" / f"{part.name.rsplit('-', 1)[0]}.jsonl"
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.write_bytes((part / "rejects.jsonl").read_bytes())

    @staticmethod
    def _near_duplicates(parts: list[Path], p: dict, stats: Stats) -> pl.DataFrame:
        """Comments that repeat an earlier comment (MinHash LSH, stages/ingest_reddit/quality.py):
        id, kept_id; counted as ``near_duplicate``, their clusters as ``near_duplicate_clusters``.
        Posts are left alone: recurring threads (daily discussions) share a template body.
        Reads the band keys the shards wrote (``minhash-*.arrow``: ~80 bytes per comment)."""
        if not p["near_duplicates"]:
            return pl.DataFrame(schema={"id": pl.String, "kept_id": pl.String})
        index = MinHashIndex(p["near_duplicate_threshold"], p["near_duplicate_num_perm"], p["near_duplicate_ngram"])
        files = [f for part in parts for f in sorted(part.glob("minhash-*.arrow"))]
        dups = index.resolve(pl.read_ipc(files) if files else pl.DataFrame(schema=index.schema))
        stats.dropped["near_duplicate"] += dups.height
        stats.counts["near_duplicate_clusters"] = dups["kept_id"].n_unique()
        return dups

    @staticmethod
    def _thread_links(records: pl.LazyFrame, post_ids: pl.Series, depth: int, bodies_file: Path) -> dict:
        """Which thread comments reach their post through kept comments, and their ancestors.

        Reads id, parent_id, is_top_level of every kept comment of a kept post (small), and
        writes to ``bodies_file`` the bodies of the comments that are someone's ancestor within
        ``depth`` levels (read back per bucket by ``_with_prompts``).
        Returns {"linked": imploded ids, "unlinked": count, "ancestors": id, a1..a{depth}
        (rows with at least one ancestor), "bodies": bodies_file}.
        """
        cols = ("id", "parent_id", "is_top_level", "link_id")
        tree = (records.filter((pl.col("kind") == "comment") & pl.col("link_id").is_in(post_ids))
                .select(*cols).collect().unique(subset="id", keep="first", maintain_order=True))
        ok = reachable_replies(tree)
        linked = tree.filter(ok)
        ancestors = ancestor_ids(linked, depth)
        if depth:
            ancestors = ancestors.filter(pl.col("a1").is_not_null())
        wanted = (pl.concat([ancestors[f"a{k}"] for k in range(1, depth + 1)]).drop_nulls().unique().implode()
                  if depth else pl.Series([], dtype=pl.String).implode())
        (records.filter((pl.col("kind") == "comment") & pl.col("id").is_in(wanted))
         .select("id", "body").unique(subset="id", keep="first", maintain_order=True)
         .sink_ipc(bodies_file, compression="uncompressed"))
        return {"linked": linked["id"].implode(), "unlinked": tree.height - linked.height,
                "ancestors": ancestors, "bodies": bodies_file}

    @staticmethod
    def _with_prompts(threads: pl.DataFrame, links: dict, depth: int, max_chars: int) -> pl.DataFrame:
        """Thread comments (joined to their post) + chain_ids, chain_texts (ancestors oldest first,
        the parent last) and ``prompt`` (post, then chain: ``alignx.threads.render_prompt``)."""
        anc = [f"a{k}" for k in range(depth, 0, -1)]  # oldest first
        t = threads.join(links["ancestors"], on="id", how="left", maintain_order="left")
        if depth:
            needed = pl.concat([t[c] for c in anc]).drop_nulls().unique().implode()
            bodies = pl.scan_ipc(links["bodies"]).filter(pl.col("id").is_in(needed)).collect()
            for c in anc:
                t = t.join(bodies.rename({"id": c, "body": f"_{c}"}), on=c, how="left", maintain_order="left")
                # an ancestor's body is never missing; "" as the old chains filled it
                t = t.with_columns(pl.when(pl.col(c).is_not_null()).then(pl.col(f"_{c}").fill_null(""))
                                   .alias(f"_{c}"))
        empty = pl.lit([], dtype=pl.List(pl.String))
        return t.with_columns(
            (pl.concat_list(anc).list.drop_nulls() if depth else empty).alias("chain_ids"),
            (pl.concat_list([f"_{c}" for c in anc]).list.drop_nulls() if depth else empty).alias("chain_texts"),
            prompt_expr("post_title", "post_body", [f"_{c}" for c in anc], max_chars).alias("prompt"),
        ).select(*threads.columns, "chain_ids", "chain_texts", "prompt")


def users_table(per_comment: pl.DataFrame | None, per_post: pl.DataFrame, buckets: int) -> pl.DataFrame:
    """Per author: eligible comments, distinct threads and subreddits commented in, posts written.

    ``per_comment``: author, n_comments, n_threads, n_subreddits (one row per author: the
    buckets' tables concatenated); ``per_post``: author, n_posts."""
    if per_comment is None:
        per_comment = pl.DataFrame(schema={"author": pl.String, "n_comments": pl.UInt32, "n_threads": pl.UInt32,
                                           "n_subreddits": pl.UInt32})
    users = (
        per_comment.join(per_post, on="author", how="full", coalesce=True)
        .with_columns(
            pl.col("n_comments").fill_null(0), pl.col("n_threads").fill_null(0),
            pl.col("n_subreddits").fill_null(0), pl.col("n_posts").fill_null(0),
        )
        .sort("author")
    )
    return users.with_columns(author_buckets(users["author"], buckets).alias("bucket"))


def fail_if_nothing_kept(stats: Stats, p: dict) -> None:
    """Refuse inputs of which nothing is kept (a date window outside the dumps, say): every later
    stage would fail on it, less clearly. Submissions alone are a valid output."""
    if not stats.records_in:
        return
    reasons = ", ".join(f"{k} {v:,}" for k, v in stats.dropped.most_common(4))
    raise UserError(f"ingest_reddit kept nothing of {stats.records_in:,} records (dropped: {reasons}); "
                    f"check ingest_reddit.date_from / date_to ({p.get('date_from') or 'open'} to "
                    f"{p.get('date_to') or 'open'}) and the filters against the inputs")
