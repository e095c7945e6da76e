"""Stage ``assemble``: personas, sibling preference pairs and leak-free splits in the AlignX shape.

Config section ``[assemble]``. Upstream: ``anonymize`` (texts), ``annotate`` (ratings),
``cluster`` (archetypes), ``ingest_alignment`` (single-attribute pairs).

Reddit users (docs/design.md 2.2): a pseudonymous author with >= ``min_comments`` rated comments.
Candidates are responses to the same text (``pairs_from``: "siblings", the comments answering
one parent, or "top_level", the top-level comments of one post; ``stages/assemble/pairs.py``),
never the top-level comments of a recurring post (``recurring_post``: a daily discussion's
comments answer only its bare title; counted as ``groups.templated_top_level`` and
``comments.templated_top_level``). docs/stages/assemble.md tells the whole stage.
For a target group G the user answered in (thread P), the orienting profile is the profile
rule over the directions of the user's own comments in *other* threads. Each pair (a, b) of
other users' comments in G is oriented by the orientation rule (``alignx/orientation.py``: its
``margin`` = dimensions where its direction agrees with the profile minus those where it is the
opposite; oriented so the margin is >= 0, the best pair kept when it is >= ``min_margin`` and its
margin without the ``style_dimensions`` is >= ``min_content_margin``; among equal margins the
pair of closest lengths). The user's own comment is never a candidate. History never touches P: User-Generated Content = the user's
own comments in other threads; Pair-wise Comparative Feedback = the best-oriented sibling pairs
where the user answered in other threads. Demographic Information is rendered from the profile
of the history items only.

``community_order`` follows SHP: the later of the two comments is preferred by the community
when its score is at least twice the earlier one's and both are >= 2 ("agrees" when the user's
chosen is that comment, "disagrees" otherwise); "undetermined" in every other case.

Alignment pairs join as single-attribute users: PAIR history from other pairs of the same
source/attribute, no UGC. ``alignment_share`` sets their share of the mix.

Splits (``stages/assemble/pairs.py``): a user goes to test when a seeded hash of their
pseudonym falls below ``test_share``, a thread when a seeded hash of its post falls below
``test_thread_share``; a user's examples use only threads of the user's side
(``split_crossing_comments`` counts the rest) and, in train, no comment by a test user. Train
rows that still share a text, id or user with test are dropped (``text_in_test``,
``post_in_test``, ``user_in_test``); ``leak.*`` counts what is left (zero). Alignment pairs beyond
the mix are counted as ``alignment_not_in_mix``. Every sampling choice is a seeded hash of the
item itself, so forgetting a user changes only the examples that used their content. Each test
target appears four times, with persona_type ugc / pair / demo / all. Alignment examples are in train.

Shape of the release (``_shape``, in finish, before the alignment mix): no Demographic Information
covers more than ``max_demographic_share`` of the Reddit targets (``common_demographic``), and in
each split the chosen response is the shorter, or the longer, in at most ``max_length_side_share``
of the rows (``length_balance``); the excess rows go in a seeded order.

Decontamination (``stages/assemble/decontaminate.py``): examples sharing a word
``[decontaminate] ngram``-gram with a benchmark file listed in ``[decontaminate] benchmarks`` are dropped
(``contaminated``), each match recorded in ``decontamination/<reddit|alignment>.parquet``.

Outputs ``examples/train.parquet``, ``examples/test.parquet`` with: id (stable hash of the
example's sources), source, user_type, user, post_id, prompt, chosen, rejected, direction,
subreddit, ugc, pair, demographic, persona_type, community_order, margin, content_margin (the
margin without the style dimensions), archetype, source_ids,
prompt_ids (the target prompt's parts: post, then parent chain), thread_ids (every thread the
example uses), score_ratio, seconds_between, length_ratio (``community_signals``).
"""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from json.encoder import encode_basestring_ascii
from pathlib import Path

import numpy as np
import polars as pl

from alignx.candidates import group_key, is_candidate
from alignx.directions import DEFAULT_MIN_EVIDENCE, MEASURES, gate, rules_fingerprint, single_direction
from alignx.orientation import (MAX_CANDIDATES, STYLE_DIMENSIONS, best_pair, community_profile, content_margin,
                                direction)
from pipeline.io import parquet_writer, sorted_frames, stable_hash, write_parquet
from pipeline.logs import get_logger
from pipeline.stage import Shard, Stage, StageContext, Stats, keys
from alignx.llm import refused_key_stops
from annotators import ANNOTATOR, ANNOTATOR_TUNES
from alignx.persona import traits
from stages.assemble.demographic import NO_SIGNAL, common_rows, llm_descriptions, template
from stages.assemble.decontaminate import benchmark_ngrams, contamination
from stages.assemble.pairs import (
    LENGTH_SIDE, UNPAIRED, CandidateIndex, HeldByTest, Split, example_texts, group_filter, length_balance,
    length_sides,
)
from alignx.taxonomy import N_DIMENSIONS, profile

log = get_logger("assemble")
UGC_TYPE = pl.List(pl.Struct({"prompt": pl.String, "comment": pl.String,
                              "Preference Direction": pl.List(pl.Float32)}))
PAIR_TYPE = pl.List(pl.Struct({"prompt": pl.String, "chosen": pl.String, "rejected": pl.String,
                               "Preference Direction": pl.List(pl.Float32)}))
SCHEMA = {
    "id": pl.String, "source": pl.String, "user_type": pl.String, "user": pl.String, "post_id": pl.String,
    "subreddit": pl.String,
    "prompt": pl.String, "chosen": pl.String, "rejected": pl.String, "direction": pl.List(pl.Float32),
    "ugc": UGC_TYPE, "pair": PAIR_TYPE, "demographic": pl.String, "persona_type": pl.String,
    "community_order": pl.String, "margin": pl.Int32, "content_margin": pl.Int32, "archetype": pl.Int32, "source_ids": pl.List(pl.String),
    "prompt_ids": pl.List(pl.String), "thread_ids": pl.List(pl.String),
    "score_ratio": pl.Float64, "seconds_between": pl.Int64, "length_ratio": pl.Float64,
}
PERSONAS = ("ugc", "pair", "demo", "all")
#: The columns finish decides the release's shape on (with ``pairs.LENGTH_SIDE``), never the texts.
SLIM = ("id", "user", "demographic")
#: Rows per key range when finish writes its outputs sorted (``pipeline.io.sorted_frames``): a
#: range is what finish holds at once (a few thousand examples with their histories).
SORT_RANGE_ROWS = 2000
MATCH_SCHEMA = {"id": pl.String, "benchmark": pl.String, "ngram": pl.String}


def demographic_text(history_directions: list[np.ndarray], max_traits: int, style=STYLE_DIMENSIONS) -> str:
    """The documented template over the history's traits. Never sees the target.
    (``assemble.demographic = "llm"`` rewrites it from the same labels in finish.)"""
    return template(history_labels(history_directions, max_traits, style))


def history_labels(history_directions: list, max_traits: int, style=STYLE_DIMENSIONS) -> str:
    return traits(history_directions, max_traits, tuple(style))


def content_rule(p: dict) -> tuple[tuple[int, ...], int]:
    """The ``style``, ``min_content_margin`` arguments of ``best_pair`` from the assemble section."""
    return tuple(p["style_dimensions"]), p["min_content_margin"]


def group_pair(cands: list[dict], prof: np.ndarray, p: dict, leanings: dict[str, np.ndarray]):
    """``best_pair`` of one group's candidates under ``prof``, with the content rule and, where
    its community leans, only pairs the leaning does not decide."""
    community = leanings.get(cands[0]["subreddit"]) if cands else None
    return best_pair(cands, prof, p["min_margin"], p["direction_gap"], *content_rule(p), community=community)


def community_order(chosen: dict, rejected: dict) -> str:
    early, late = sorted((chosen, rejected), key=lambda c: (c["created_utc"], c["id"]))
    if early["score"] is None or late["score"] is None:
        return "undetermined"
    if early["score"] >= 2 and late["score"] >= 2 and late["score"] >= 2 * early["score"] \
            and late["created_utc"] > early["created_utc"]:
        return "agrees" if chosen is late else "disagrees"
    return "undetermined"


def ranked(items: list, key, *scope) -> list:
    """``items`` in a seeded order that depends on each item alone: removing one item (a user
    who asked to be forgotten) never reorders the others, so unaffected examples keep their
    content and ids."""
    h = seeded_hash(*scope)
    return sorted(items, key=lambda it: h(key(it)))


def _json(value) -> str | None:
    """``value`` as ``json.dumps`` writes it, for a str or an int; None for anything else."""
    if type(value) is str:
        return encode_basestring_ascii(value)
    if type(value) is int:
        return repr(value)
    return None


def seeded_hash(*scope):
    """A function k -> ``stable_hash([*scope, k])``, the same hex digest, with the canonical
    JSON of ``scope`` written once (ranking hashes every group and comment of every user)."""
    parts = [_json(v) for v in scope]
    if None in parts:
        return lambda k: stable_hash([*scope, k])
    prefix = "[" + "".join(part + "," for part in parts)

    def h(k) -> str:
        e = _json(k)
        return stable_hash([*scope, k]) if e is None else hashlib.sha256((prefix + e + "]").encode()).hexdigest()
    return h


def first_found(items: list, find, want: int) -> list[tuple]:
    """(item, find(item)) for the first items, in order, where ``find`` gives a result (not None
    or False), stopping once ``want`` are found (at least one is looked for: a caller tells "none"
    from "some"). Taking the first ``want`` of a seeded order this way gives the same items as
    scoring all of them and then taking the first ``want`` of that order."""
    found = []
    for item in items:
        result = find(item)
        if result:
            found.append((item, result))
            if len(found) >= max(want, 1):
                break
    return found


def alignment_histories(pairs: pl.DataFrame, seed: int, size: int):
    """A function pair -> its history: ``size`` other pairs of its user type, sorted by id.

    Each type's pairs are ranked once in a seeded order (``ranked``: each pair's place depends
    on its own id), and a pair's history is the ``size`` pairs after it in that order, wrapping
    around: a constant amount of work a pair, where ranking the whole pool again for every pair
    grew with the square of the alignment data (hundreds of thousands of pairs at AlignX's
    size). Removing a pair changes only the histories that held it. A type of at most ``size`` + 1
    pairs gives each pair every other one, as before."""
    order: dict[str, list[dict]] = {}
    at: dict[str, int] = {}
    for (user_type,), group in pairs.group_by(["user_type"]):
        order[user_type] = ranked(group.to_dicts(), lambda h: h["id"], seed, "history", user_type)
        at.update((h["id"], i) for i, h in enumerate(order[user_type]))

    def history(pair: dict) -> list[dict]:
        pool = order[pair["user_type"]]
        after = [pool[(at[pair["id"]] + k) % len(pool)] for k in range(1, min(size, len(pool) - 1) + 1)]
        return sorted(after, key=lambda h: h["id"])
    return history


def f32(direction) -> list[float]:
    return np.asarray(direction, dtype=np.float64).tolist()


#: What the candidate index holds per comment; the texts (TEXT_COLUMNS) are read only for the
#: comments an example uses (``load_texts``).
THREAD_COLUMNS = ["id", "link_id", "parent_id", "is_top_level", "author", "score", "created_utc", "recurring_post",
                  "subreddit"]
TEXT_COLUMNS = ["id", "subreddit", "body", "prompt", "prompt_ids"]


#: Rows gated at once: the list columns' numpy copies and the gate's temporaries are a few
#: times the matrix, so gating a shard's neighbourhood whole made them grow with it.
GATE_ROWS = 20_000


def gated_matrix(ratings: pl.DataFrame) -> np.ndarray:
    """(n, 90) int16: each row's intensities where its evidence is >= the minimum, else 0
    (``alignx.directions.gate``, vectorized: directions use evidence-gated intensities only, so a
    rating without evidence is 0 from here on). ``ratings``: columns ratings, evidence (lists of
    90; a null evidence means every rating has evidence); gated ``GATE_ROWS`` rows at a time."""
    out = np.zeros((ratings.height, N_DIMENSIONS), dtype=np.int16)
    for start in range(0, ratings.height, GATE_ROWS):
        out[start:start + GATE_ROWS] = _gated(ratings.slice(start, GATE_ROWS))
    return out


def _gated(ratings: pl.DataFrame) -> np.ndarray:
    n = ratings.height
    r, e = ratings["ratings"], ratings["evidence"]
    has = e.is_not_null().to_numpy()
    if not ((r.list.len() == N_DIMENSIONS).all() and (e.filter(has).list.len() == N_DIMENSIONS).all()):
        return np.stack([gate(a, b) for a, b in zip(r.to_list(), e.to_list())]).astype(np.int16)
    out = r.explode().to_numpy().astype(np.int16).reshape(n, N_DIMENSIONS)
    if has.any():
        ev = e.filter(pl.Series(has)).explode().to_numpy().astype(np.int16).reshape(-1, N_DIMENSIONS)
        out[has] = np.where(ev >= DEFAULT_MIN_EVIDENCE, out[has], 0)
    return out


def load_comments(ctx: StageContext, authors: list[str], pairs_from: str
                  ) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The rated comments one shard needs, their gated ratings ((n, 90) int16) and raw measures
    ((n, len(MEASURES)) float32, NaN where annotate stored none), aligned.

    Rows: every comment by ``authors`` and every candidate in the groups they answered in
    (``pairs.group_filter``), read by filtered scans of anonymize's threads (key columns only)
    joined to their ok ratings (``rated_rows``), so a shard holds its users' neighbourhood,
    never the whole comment table nor every rating. Sorted by
    link_id, created_utc, id (the candidate order of ``CandidateIndex``)."""
    threads = (pl.scan_parquet(ctx.upstream_files("anonymize", "threads"))
               .select(*THREAD_COLUMNS, pl.col("body").str.len_chars().alias("chars")))
    own = threads.filter(pl.col("author").is_in(authors)).collect()
    rows = pl.concat([own, threads.filter(group_filter(pairs_from, own)).collect()]).unique("id", keep="first")
    # the candidates are the rated ones: which they are decides the cut, whose survivors' ratings
    # alone are read (a large group's ratings never are)
    rated = (pl.scan_parquet(ctx.upstream_files("annotate", "ratings"))
             .filter((pl.col("status") == "ok") & pl.col("id").is_in(rows["id"].implode())).select("id").collect())
    rows = rows.join(rated, on="id", how="semi").sort("link_id", "created_utc", "id")
    rows = first_candidates(rows, pairs_from, authors, rated_split(ctx).test_users, MAX_CANDIDATES)
    ids, matrix, measures = rated_rows(ctx, rows["id"])
    rows = rows.join(ids, on="id", how="inner", maintain_order="left")
    at = rows["_r"].to_numpy()
    return rows.drop("_r"), matrix[at], measures[at]


def shard_index(ctx: StageContext, authors: list[str], pairs_from: str) -> CandidateIndex:
    """The candidate index of one shard's users (``load_comments``); the frame it was built from
    is gone when this returns."""
    comments, ratings, measures = load_comments(ctx, authors, pairs_from)
    return CandidateIndex(comments, pairs_from, ratings, measures)


def first_candidates(rows: pl.DataFrame, pairs_from: str, authors: list[str], test_users, limit: int
                     ) -> pl.DataFrame:
    """``rows`` (sorted in candidate order) without the candidates no user of ``authors`` can
    reach: a user's candidates in a group are the first ``limit`` of the group's rows by other
    authors (by train users only, for a train user: ``Split.allowed_author``), so they lie
    within the group's first ``limit`` + (rows by ``authors``) rows, counted over every author
    and over train authors. The rest of a large group (a daily thread's hundreds of top-level
    comments) is never turned into index rows: without this cut a shard's index grew with the
    threads' sizes, not with its own users. The authors' own rows are all kept."""
    mine = pl.col("author").is_in(authors)
    train = pl.col("author").is_in(sorted(test_users)).not_()
    ranked = rows.with_row_index("_i").filter(is_candidate(pairs_from)).with_columns(
        group_key(pairs_from).alias("_g")).with_columns(
        (limit + mine.cast(pl.Int64).sum().over("_g")).alias("_reach"),
        pl.int_range(pl.len()).over("_g").alias("_rank"),
        (train.cast(pl.Int64).cum_sum().over("_g") - 1).alias("_train_rank"))
    reached = ranked.filter((pl.col("_rank") < pl.col("_reach"))
                            | (train & (pl.col("_train_rank") < pl.col("_reach"))))["_i"]
    return rows.with_row_index("_i").filter(mine | pl.col("_i").is_in(reached.implode())).drop("_i")


def _files_key(files: list[Path]) -> tuple:
    return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)


def rated_rows(ctx: StageContext, ids: pl.Series) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """(id -> row ``_r``, the (n, 90) int16 gated ratings of the ok ratings of ``ids``, their (n,
    len(MEASURES)) float32 raw measures, NaN where annotate stored none). A filtered scan per
    shard: holding every rating once per process instead (196 MB a million comments) made
    assemble's memory grow with the corpus."""
    ratings = (pl.scan_parquet(ctx.upstream_files("annotate", "ratings"))
               .filter((pl.col("status") == "ok") & pl.col("id").is_in(ids.implode()))
               .select("id", "ratings", "evidence", "measures").collect())
    measures = (ratings["measures"].struct.unnest().select(MEASURES).to_numpy().astype(np.float32)
                if ratings.height else np.zeros((0, len(MEASURES)), dtype=np.float32))
    return ratings.select("id").with_row_index("_r"), gated_matrix(ratings), measures


def load_texts(ctx: StageContext, ids: list[str]) -> dict[str, dict]:
    """id -> its TEXT_COLUMNS (subreddit, body, prompt, prompt_ids) for the comments ``ids``."""
    texts = (pl.scan_parquet(ctx.upstream_files("anonymize", "threads")).select(TEXT_COLUMNS)
             .filter(pl.col("id").is_in(ids)).collect())
    return {r["id"]: r for r in texts.iter_rows(named=True)}


_SPLITS: dict[tuple, Split] = {}


def rated_split(ctx: StageContext) -> Split:
    """The user and thread split over the authors and posts of every rated comment: the distinct
    authors and link ids of annotate's ok ratings (which carry both), read column by column and
    made distinct as they stream, so no table of every comment is held. Computed once per
    process."""
    p = ctx.params
    ratings = ctx.upstream_files("annotate", "ratings")
    key = (_files_key(ratings), ctx.seed, p["test_share"], p["test_thread_share"])
    if key not in _SPLITS:
        ok = pl.scan_parquet(ratings).filter(pl.col("status") == "ok")
        users, posts = (ok.select(pl.col(c).unique()).collect(engine="streaming")[c] for c in ("author", "link_id"))
        _SPLITS.clear()
        _SPLITS[key] = Split.decide(users, posts, ctx.seed, p["test_share"], p["test_thread_share"])
    return _SPLITS[key]


_COMMUNITIES: dict[tuple, dict[str, np.ndarray]] = {}


def community_leanings(ctx: StageContext) -> dict[str, np.ndarray]:
    """subreddit -> its community's leaning (``alignx.orientation.community_profile`` at
    ``community_lean_share``) over the profiles cluster computed (archetypes/users.parquet: the
    profile rule over all of a user's comments) of the users with at least ``min_comments`` rated
    comments who commented there; {} when ``community_lean_share`` is 0 (off). Computed once per
    process."""
    p = ctx.params
    if not p["community_lean_share"]:
        return {}
    threads, users = ctx.upstream_files("anonymize", "threads"), ctx.upstream_files("cluster", "archetypes")
    key = (_files_key(threads + users), p["community_lean_share"], p["min_comments"])
    if key not in _COMMUNITIES:
        profiles = (pl.read_parquet(users[0], columns=["author", "n_comments", "profile"])
                    .filter(pl.col("n_comments") >= p["min_comments"]))
        where = (pl.scan_parquet(threads).select("author", "subreddit").unique().collect()
                 .join(profiles, on="author").sort("subreddit", "author"))
        _COMMUNITIES.clear()
        _COMMUNITIES[key] = {sub: community_profile(np.array(g["profile"].to_list()), p["community_lean_share"])
                             for (sub,), g in where.group_by(["subreddit"], maintain_order=True)}
    return _COMMUNITIES[key]


def unpaired_counts(ctx: StageContext) -> dict[str, int]:
    """What the recurring-post rule leaves out (``alignx.candidates.UNPAIRED``): the recurring posts with at
    least two rated top-level comments (``groups.templated_top_level``: groups that would have
    paired them) and those comments (``comments.templated_top_level``)."""
    ok = pl.scan_parquet(ctx.upstream_files("annotate", "ratings")).filter(pl.col("status") == "ok").select("id")
    per_post = (pl.scan_parquet(ctx.upstream_files("anonymize", "threads")).filter(UNPAIRED).select("id", "link_id")
                .join(ok, on="id", how="semi").group_by("link_id").len().filter(pl.col("len") >= 2).collect())
    return {"groups.templated_top_level": per_post.height, "comments.templated_top_level": int(per_post["len"].sum())}


def commonest(df: pl.DataFrame) -> tuple[str, int]:
    """The commonest ``demographic`` of ``df``'s rows and its count ("", 0 when none)."""
    if not df.height:
        return "", 0
    top = df.group_by("demographic").len().sort(["len", "demographic"], descending=[True, False]).row(0)
    return top[0], int(top[1])


def test_personas(test: pl.DataFrame) -> pl.DataFrame:
    """Each test target four times, with persona_type ugc / pair / demo / all (AlignX-test style):
    the rows' ids get the persona as suffix, and each persona keeps only its own signals."""
    return pl.concat([
        test.with_columns(
            pl.lit(persona).alias("persona_type"),
            (pl.col("id") + f"-{persona}").alias("id"),
            *([pl.lit([], dtype=UGC_TYPE).alias("ugc")] if persona in ("pair", "demo") else []),
            *([pl.lit([], dtype=PAIR_TYPE).alias("pair")] if persona in ("ugc", "demo") else []),
            *([pl.lit("").alias("demographic")] if persona in ("ugc", "pair") else []),
        ) for persona in PERSONAS])


def write_sorted(frames, bounds: list[str], path: Path, spill: Path) -> None:
    """The rows of ``frames`` written to ``path`` sorted by id, one key range at a time."""
    with parquet_writer(path, SCHEMA) as write:
        for df in sorted_frames(frames, "id", bounds, spill):
            write(df)


class Released:
    """What finish counts of the rows it writes, per split (test: one row per target, before its
    four personas), so the manifest's figures need no second read."""

    def __init__(self):
        self.rows, self.reddit, self.shorter = Counter(), Counter(), Counter()
        self.users: dict[str, set[str]] = {"train": set(), "test": set()}
        self.threads: set[str] = set()
        self.demographics, self.sources = Counter(), Counter()

    def add(self, split: str, df: pl.DataFrame) -> None:
        reddit = df.filter(pl.col("source") == "reddit")
        self.rows[split] += df.height
        self.reddit[split] += reddit.height
        self.shorter[split] += int((length_sides(reddit) < 0).sum())
        self.users[split] |= set(reddit["user"].to_list())
        self.demographics.update(reddit["demographic"].to_list())
        if split == "train":
            self.sources.update(df["user_type"].to_list())
        else:
            self.threads |= set(df["post_id"].to_list())

    def shorter_share(self, split: str) -> float:
        """Share of the split's Reddit rows whose chosen response is the shorter, 4 decimals."""
        return round(self.shorter[split] / self.reddit[split], 4) if self.reddit[split] else 0.0

    def reddit_rows(self) -> int:
        return self.reddit["train"] + self.reddit["test"]

    def commonest(self) -> tuple[str, int]:
        """The commonest Demographic Information of the Reddit rows and its count ("", 0 when none)."""
        return min(self.demographics.items(), key=lambda kv: (-kv[1], kv[0] or ""), default=("", 0))


class Transforms:
    """finish's optional rewrites, applied to one frame of examples at a time and in this order:
    LLM Demographic Information (``demographic = "llm"``), paraphrased history (Reddit rows,
    ``history_text = "paraphrase"``), decontamination (``ctx.inputs``). Their counts add up over
    the frames; ``close`` records them and writes the decontamination matches."""

    def __init__(self, stage: "Assemble", ctx: StageContext, stats: Stats):
        self.stage, self.ctx, self.stats = stage, ctx, stats
        self.paraphrase = None
        if ctx.params["history_text"] == "paraphrase":
            from stages.assemble.paraphrase import ParaphraseReport

            self.paraphrase = ParaphraseReport()
        self.index, self.matches = None, {"reddit": [], "alignment": []}
        if ctx.inputs:  # benchmark files listed in [decontaminate] benchmarks
            self.n = ctx.config.section("decontaminate")["ngram"]
            self.index = benchmark_ngrams(list(ctx.inputs), self.n)

    def __call__(self, df: pl.DataFrame, name: str) -> pl.DataFrame:
        if self.ctx.params["demographic"] == "llm":
            df = self.stage._llm_demographics(self.ctx, df)
        if self.paraphrase is not None and name == "reddit":  # no user's own words in the persona
            from stages.assemble.paraphrase import paraphrase_history

            df, _ = paraphrase_history(df, self.ctx.params, self.ctx.config.section("annotate"), self.ctx.data_dir,
                                       self.paraphrase)
        if self.index is not None:
            df, found = self.stage._decontaminate(df, self.index, self.n, self.stats)
            self.matches[name].append(found)
        return df

    def close(self, out_dir: Path) -> None:
        if self.paraphrase is not None:
            self.stats.counts.update(self.paraphrase.counts())
        if self.index is not None:
            for name, found in self.matches.items():
                write_parquet(pl.concat(found).sort("id") if found else pl.DataFrame(schema=MATCH_SCHEMA),
                              out_dir / "decontamination" / f"{name}.parquet")


class Profiles:
    """A user's profile with each post left out, from their own comments' directions.

    ``own``: the user's comments (dicts with link_id and ratings). ``excluding(post)`` is
    ``profile`` over the directions of the comments in other threads (None when there are none):
    the sum of all directions minus the post's, divided by the rest's count, which is the same
    mean in floating point (directions are multiples of 0.5, so every sum is exact)."""

    def __init__(self, own: list[dict]):
        self.links = np.array([c["link_id"] for c in own], dtype=object)
        self.directions = single_direction(np.stack([c["ratings"] for c in own])) if own else None
        self.total = self.directions.sum(axis=0) if own else None
        self.cache: dict[str, np.ndarray | None] = {}

    def excluding(self, post: str) -> np.ndarray | None:
        if post not in self.cache:
            mask = self.links == post
            rest = len(self.links) - int(mask.sum())
            mean = (self.total - self.directions[mask].sum(axis=0)) / rest if rest else None
            self.cache[post] = profile(mean[None, :]) if rest else None
        return self.cache[post]


def community_signals(chosen: dict, rejected: dict) -> dict:
    """What the crowd did with the two responses, as ComPRed ships it: ``score_ratio`` = chosen's
    score / rejected's (null unless both are >= 1), ``seconds_between`` = chosen's time - rejected's
    (seconds; > 0: chosen came later), ``length_ratio`` = chosen's characters / rejected's."""
    a, b = chosen.get("score"), rejected.get("score")
    return {
        "score_ratio": float(a) / b if a is not None and b is not None and a >= 1 and b >= 1 else None,
        "seconds_between": int(chosen["created_utc"] - rejected["created_utc"]),
        "length_ratio": len(chosen["body"]) / max(len(rejected["body"]), 1),
    }


class Assemble(Stage):
    name = "assemble"
    #: 4: evidence-gated directions, at most demographic_max_traits traits; 5: pairs among siblings,
    #: thread-and-user splits, leak removal, decontamination, prompt_ids, community signals;
    #: 6: Demographic Information names interests only as "Likes" (alignx.persona.INTERESTS);
    #: 7: pair directions compare the raw measures on the relative dimensions (directions rule 3)
    #: 8: no top-level pairs under recurring posts; a minimum content margin beyond the style
    #: dimensions; equal margins go to the closest lengths; length balance per split
    #: 9: only pairs the community's leaning does not decide (community_lean_share); 11: only pairs
    #: decided by the profile's dimensions the community does not lean on
    #: 12: train examples sorted by id (not source, id), as test is and as emit releases them, so
    #: emit can stream both files in order
    #: 13: an alignment pair's history is the pairs after it in its type's seeded order (it was a
    #: fresh ranking of the whole type per pair: quadratic); the same histories for types of at most
    #: pair_items + 1 pairs
    version = "13"
    upstream = ("anonymize", "annotate", "cluster", "ingest_alignment")
    input_keys = ("decontaminate.benchmarks",)  # benchmark files whose text must not enter the release
    #: a Reddit target or an alignment pair: train holds each once, test four times (its personas)
    unit = "targets"
    uses = ("run.seed", *keys("assemble", "min_comments", "pairs_from", "targets_per_user", "min_margin",
                              "direction_gap", "ugc_items", "pair_items", "demographic", "demographic_model",
                              "demographic_max_traits", "history_text", "paraphrase_model", "paraphrase_min_survival",
                              "alignment_share", "test_share", "test_thread_share", "style_dimensions",
                              "min_content_margin", "community_lean_share", "max_length_side_share", "max_demographic_share"),
            "decontaminate.ngram",
            # the LLM of Demographic Information and paraphrases, and the annotator re-rating them
            *ANNOTATOR)
    tunes = ("assemble.paraphrase_max_cost", *ANNOTATOR_TUNES)
    description = "personas, preference pairs among siblings, leak-free splits"

    def shards(self, ctx: StageContext) -> list[Shard]:
        files = ctx.upstream_files("anonymize", "threads")
        return [Shard(f.stem) for f in files]

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        p = ctx.params
        threads_bucket = pl.read_parquet(next(f for f in ctx.upstream_files("anonymize", "threads")
                                              if f.stem == shard.key), columns=["author"])
        authors = sorted(set(threads_bucket["author"]))
        index = shard_index(ctx, authors, p["pairs_from"])
        split = rated_split(ctx)
        leanings = community_leanings(ctx)
        archetypes = dict(pl.scan_parquet(ctx.upstream_files("cluster", "archetypes")[0]).select("author", "archetype")
                          .filter(pl.col("author").is_in(authors)).collect().iter_rows())
        stats = Stats()
        chosen_sets = []
        for user in authors:
            own = index.own(user)
            stats.counts["users.seen"] += 1
            if len(own) < p["min_comments"]:
                stats.counts["users.too_few_comments"] += 1
                continue
            # only the user's comments in threads of the user's split: the rest would carry
            # a test user into train threads or a train thread into test
            own, crossing = split.own_side(user, own)
            stats.counts["split_crossing_comments"] += crossing
            allowed = split.allowed_author(user)
            profiles = Profiles(own)

            def target(group: str):
                post = index.thread(group)
                prof = profiles.excluding(post)
                pair = prof is not None and group_pair(index.others(group, user, allowed, MAX_CANDIDATES), prof, p,
                                                       leanings)
                return (post, pair, prof) if pair else None

            # the targets are the first groups, in the user's seeded order, that have a pair:
            # the groups after them are never scored
            picks = first_found(ranked(index.groups_of(own), lambda g: g, ctx.seed, "target", user), target,
                                p["targets_per_user"])
            if not picks:
                stats.counts["users.no_target" if own else "users.only_crossing_threads"] += 1
                continue
            picks = [(group, *found) for group, found in picks[: p["targets_per_user"]]]
            for group, post, (chosen, rejected, margin), prof in sorted(picks, key=lambda c: c[0]):
                history_own = [c for c in own if c["link_id"] != post]
                ugc, pairs = self._history(user, post, prof, history_own, index, allowed, p, ctx.seed, leanings)
                content = content_margin(chosen, rejected, prof, p["direction_gap"], p["style_dimensions"])
                chosen_sets.append((user, post, chosen, rejected, (margin, content), ugc, pairs,
                                    archetypes.get(user, -1)))
            stats.counts["users.with_targets"] += 1
        # the texts of the comments the examples use, read now: the index never held them
        used = [c for (_, _, chosen, rejected, _, ugc, pairs, _) in chosen_sets
                for c in (chosen, rejected, *ugc, *(x for a, b, _ in pairs for x in (a, b)))]
        texts = load_texts(ctx, sorted({c["id"] for c in used}))
        for c in used:
            c.update(texts[c["id"]])
        rows = [self._reddit_example(*chosen_set, p) for chosen_set in chosen_sets]
        # the unit is the target (one example before the test split's four personas)
        stats.records_in = stats.records_out = stats.counts["reddit_examples"] = len(rows)
        write_parquet(pl.DataFrame(rows, schema=SCHEMA), out_dir / "reddit" / f"{shard.key}.parquet", scratch=True)
        return stats

    @staticmethod
    def _history(user, post, prof, history_own, index, allowed, p, seed, leanings) -> tuple[list, list]:
        """The example's UGC items (the user's own comments in other threads) and PAIR items
        (oriented pairs in other groups the user answered), each sampled in a seeded order."""
        ugc = sorted(ranked(history_own, lambda c: c["id"], seed, "ugc", user, post)[: p["ugc_items"]],
                     key=lambda c: c["id"])
        # the first pair_items groups, in the seeded order, whose candidates make a pair
        pool = first_found(ranked(index.groups_of(history_own), lambda g: g, seed, "pair", user, post),
                           lambda g: group_pair(index.others(g, user, allowed, MAX_CANDIDATES), prof, p, leanings),
                           p["pair_items"])
        return ugc, [b for _, b in sorted(pool[: p["pair_items"]], key=lambda x: x[0])]

    def _reddit_example(self, user, post, chosen, rejected, margin, ugc, pairs, archetype, p):
        ugc_items = [{"prompt": c["prompt"], "comment": c["body"],
                      "Preference Direction": f32(single_direction(c["ratings"]))} for c in ugc]
        pair_items = [{"prompt": a["prompt"], "chosen": a["body"], "rejected": b["body"],
                       "Preference Direction": f32(direction(a, b, p["direction_gap"]))}
                      for a, b, _ in pairs]
        history = [np.array(x["Preference Direction"]) for x in ugc_items + pair_items]
        source_ids = [post, chosen["id"], rejected["id"], *(c["id"] for c in ugc),
                      *(x for a, b, _ in pairs for x in (a["id"], b["id"]))]
        history_parts = [i for c in [*ugc, *(x for a, b, _ in pairs for x in (a, b))] for i in c["prompt_ids"]]
        return {
            "id": "ax-" + stable_hash(["reddit", user, *source_ids])[:20], "source": "reddit",
            "user_type": "reddit", "user": user, "post_id": post, "subreddit": chosen["subreddit"],
            "prompt": chosen["prompt"],
            "chosen": chosen["body"], "rejected": rejected["body"],
            "direction": f32(direction(chosen, rejected, p["direction_gap"])),
            "ugc": ugc_items, "pair": pair_items, "demographic": demographic_text(history, p["demographic_max_traits"],
                                                                                p["style_dimensions"]),
            "persona_type": "all",
            "community_order": community_order(chosen, rejected), "margin": margin[0], "content_margin": margin[1],
            "archetype": archetype,
            "source_ids": source_ids, "prompt_ids": list(chosen["prompt_ids"]),
            "thread_ids": sorted({post, *(i for i in history_parts if i.startswith("p_"))}),
            **community_signals(chosen, rejected),
        }

    def finish(self, ctx: StageContext, parts: list[Path], stats: Stats, out_dir: Path) -> Stats:
        """The release's rows from the shards' examples, without ever holding them all: what needs
        every row (``_shape``) is decided on a slim frame (id, user, description, length side);
        the examples are then read part by part (one author bucket each), transformed, split,
        checked against test (``HeldByTest``) and written sorted by id (``sorted_frames``)."""
        p = ctx.params
        files = [part / "reddit" / f"{part.name.rsplit('-', 1)[0]}.parquet" for part in parts]
        stats.counts.update(unpaired_counts(ctx))
        for sub, leaning in community_leanings(ctx).items():  # what each community's leaning holds
            for d in np.flatnonzero(leaning != 0.5):
                stats.counts[f"community.{sub}.leans.{int(d)}"] = 1 if leaning[d] == 1.0 else -1
        split = rated_split(ctx)
        is_test = pl.col("user").is_in(sorted(split.test_users))
        slim = (pl.scan_parquet(files) if files else pl.LazyFrame(schema=SCHEMA)).select(*SLIM, LENGTH_SIDE)
        # before the mix: the alignment share is taken of the Reddit rows released
        kept = self._shape(slim.collect().sort("id"), split, p, ctx.seed, stats)
        alignment = self._alignment_examples(ctx, kept.height, stats)
        transform = Transforms(self, ctx, stats)
        work = out_dir / "_finish"  # scratch, removed below
        held, community = HeldByTest(), Counter()
        for n, f in enumerate(files):  # split the transformed rows; test is gathered before train is checked
            df = transform(pl.read_parquet(f).filter(pl.col("id").is_in(kept["id"])), "reddit")
            community.update(df["community_order"].to_list())
            test = df.filter(is_test)
            held.add(test)
            write_parquet(test, work / "test" / f"{n:06d}.parquet", scratch=True)
            write_parquet(df.filter(~is_test), work / "train" / f"{n:06d}.parquet", scratch=True)
        write_parquet(transform(alignment, "alignment"), work / "train" / "alignment.parquet", scratch=True)
        transform.close(out_dir)
        # the split was decided per user and thread in run_shard (stages/assemble/pairs.py);
        # here test targets get their four personas and train loses whatever still touches test
        released, shared = Released(), HeldByTest()

        def train_rows():
            for f in sorted((work / "train").glob("*.parquet")):
                df, leaked = held.remove_leaks(pl.read_parquet(f))
                stats.dropped.update(leaked)
                shared.update(held.shared(df))
                released.add("train", df)
                yield df

        def test_rows():
            for f in sorted((work / "test").glob("*.parquet")):
                df = pl.read_parquet(f)
                released.add("test", df)
                yield test_personas(df)

        ids = sorted(kept.filter(~is_test)["id"].to_list() + alignment["id"].to_list())
        write_sorted(train_rows(), ids[SORT_RANGE_ROWS::SORT_RANGE_ROWS], out_dir / "examples" / "train.parquet",
                     work / "sorted")
        ids = sorted(kept.filter(is_test)["id"].to_list())
        step = max(1, SORT_RANGE_ROWS // len(PERSONAS))
        write_sorted(test_rows(), ids[step::step], out_dir / "examples" / "test.parquet", work / "sorted")
        shutil.rmtree(work, ignore_errors=True)
        test_targets = released.rows["test"]
        # in targets (the unit): train holds each once, test four times
        stats.records_out = released.rows["train"] + test_targets
        stats.counts.update({
            "train": released.rows["train"], "test": test_targets * len(PERSONAS), "test_targets": test_targets,
            "test_target_share": round(test_targets / max(test_targets + released.rows["train"], 1), 4),
            "train_users": len(released.users["train"]), "test_users": len(released.users["test"]),
            "test_threads": len(released.threads), "alignment_examples": alignment.height,
            **{f"leak.{k}": v for k, v in shared.counts().items()},
            **{f"length.{name}.chosen_shorter_share": released.shorter_share(name) for name in ("train", "test")},
            # the Reddit targets released, each once (test: its all-signals row)
            "demographic.commonest_share": round(released.commonest()[1] / max(released.reddit_rows(), 1), 4),
            "demographic.distinct": len(released.demographics),
            **{f"community.{k}": v for k, v in community.items()},
            **{f"source.{k}": v for k, v in released.sources.items()},
        })
        return stats

    @staticmethod
    def _shape(reddit: pl.DataFrame, split: Split, p: dict, seed: int, stats: Stats) -> pl.DataFrame:
        """``reddit`` without the rows of over-common descriptions (``demographic.common_rows``:
        dropped as ``common_demographic``) and length-balanced per split (``pairs.length_balance``,
        the split taken by the row's user: dropped as ``length_balance``), both again until neither
        drops a row (each only drops, so this ends). The manifest's ``length_balance.<split>.rows /
        shorter / longer`` and ``common_demographic.rows / commonest`` say what was there before."""
        is_test = pl.col("user").is_in(sorted(split.test_users))
        for name, df in (("train", reddit.filter(~is_test)), ("test", reddit.filter(is_test))):
            sides = length_sides(df)
            stats.counts.update({f"length_balance.{name}.rows": df.height,
                                 f"length_balance.{name}.shorter": int((sides < 0).sum()),
                                 f"length_balance.{name}.longer": int((sides > 0).sum())})
        stats.counts["common_demographic.rows"] = reddit.height
        stats.counts["common_demographic.commonest"] = commonest(reddit)[1]
        while True:
            gone = common_rows(reddit, p["max_demographic_share"], seed)
            reddit = reddit.filter(~pl.col("id").is_in(sorted(gone)))
            stats.dropped["common_demographic"] += len(gone)
            kept, balanced = [], 0
            for name, df in (("train", reddit.filter(~is_test)), ("test", reddit.filter(is_test))):
                df, report = length_balance(df, p["max_length_side_share"], seed, name)
                stats.counts[f"length_balance.{name}.dropped"] += report["dropped"]
                balanced += report["dropped"]
                kept.append(df)
            reddit = pl.concat(kept).sort("id")
            stats.dropped["length_balance"] += balanced
            if not gone and not balanced:
                break
        for reason in ("common_demographic", "length_balance"):
            if stats.dropped[reason]:
                log.warning("assemble: %d Reddit targets left out as %s (assemble.%s): see the manifest's %s.*",
                            stats.dropped[reason], reason, {"common_demographic": "max_demographic_share",
                                                            "length_balance": "max_length_side_share"}[reason], reason)
        return reddit

    @staticmethod
    def _decontaminate(df: pl.DataFrame, index: dict[str, str], n: int, stats: Stats
                       ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """``df`` without the examples sharing a word n-gram with a benchmark listed in
        ``[decontaminate] benchmarks`` (dropped as ``contaminated``), and each match with its
        benchmark file and n-gram (id, benchmark, ngram)."""
        matches = [contamination(example_texts(r), index, n) for r in df.iter_rows(named=True)]
        hit = pl.Series([m is not None for m in matches], dtype=pl.Boolean)
        stats.dropped["contaminated"] += int(hit.sum())
        found = pl.DataFrame({"id": df.filter(hit)["id"], "benchmark": [m[0] for m in matches if m],
                              "ngram": [m[1] for m in matches if m]}, schema=MATCH_SCHEMA)
        return df.filter(~hit), found

    def _llm_demographics(self, ctx: StageContext, df: pl.DataFrame) -> pl.DataFrame:
        """Replace the template by the model's description of the same history labels."""
        if df.height == 0:
            return df
        labels = [history_labels([x["Preference Direction"] for x in (r["ugc"] or []) + (r["pair"] or [])],
                                 ctx.params["demographic_max_traits"], ctx.params["style_dimensions"])
                  for r in df.select("ugc", "pair").iter_rows(named=True)]
        a = ctx.config.section("annotate")
        model = ctx.params["demographic_model"] or a["model"]
        with refused_key_stops(a, "assemble"):
            texts = llm_descriptions(labels, {**a, "model": model, "backend": "demographic"},
                                     ctx.data_dir / "cache" / "demographics.sqlite")
        return df.with_columns(pl.Series("demographic", [texts.get(lab, "") if lab else NO_SIGNAL for lab in labels],
                                         dtype=pl.String))

    def fingerprint_extra(self, config, data_dir: Path) -> dict[str, str]:
        from stages.assemble.demographic import demographic_prompt_version

        from alignx.orientation import code_fingerprint

        extra = {"direction_rules": rules_fingerprint(), "orientation_code": code_fingerprint()}
        if config["assemble.demographic"] == "llm":
            extra["demographic_prompt"] = demographic_prompt_version()
        if config["assemble.history_text"] == "paraphrase":
            from stages.assemble.paraphrase import prompt_version

            extra["paraphrase_prompt"] = prompt_version()
        return extra

    def _alignment_examples(self, ctx: StageContext, n_reddit: int, stats: Stats) -> pl.DataFrame:
        p = ctx.params
        pairs = pl.read_parquet(ctx.upstream_files("ingest_alignment", "pairs")[0]).sort("id")
        share = p["alignment_share"]
        want = int(round(n_reddit * share / (1 - share))) if share < 1 else pairs.height
        order = ranked(list(range(pairs.height)), lambda i: pairs["id"][i], ctx.seed, "alignment")
        take = pairs[sorted(order[:want])]
        stats.counts["alignment_available"] = pairs.height
        stats.records_in += pairs.height
        stats.dropped["alignment_not_in_mix"] += pairs.height - take.height
        rows = []
        histories = alignment_histories(pairs, ctx.seed, p["pair_items"])
        for r in take.iter_rows(named=True):
            hist = histories(r)
            pair_items = [{"prompt": h["prompt"], "chosen": h["chosen"], "rejected": h["rejected"],
                           "Preference Direction": f32(h["direction"])} for h in hist]
            source_ids = [r["id"], *(h["id"] for h in hist)]
            rows.append({
                "id": "ax-" + stable_hash(["alignment", *source_ids])[:20], "source": r["source"],
                "user_type": r["user_type"], "user": r["user_type"], "post_id": r["id"], "subreddit": None,
                "prompt": r["prompt"],
                "chosen": r["chosen"], "rejected": r["rejected"], "direction": f32(r["direction"]), "ugc": [],
                "pair": pair_items, "demographic": demographic_text([np.array(x["Preference Direction"])
                                                                      for x in pair_items], p["demographic_max_traits"],
                                                                     style=()),  # the attribute is the preference
                "persona_type": "all", "community_order": "undetermined", "margin": 0, "content_margin": 0,
                "archetype": -1,
                "source_ids": source_ids, "prompt_ids": [], "thread_ids": [],
                "score_ratio": None, "seconds_between": None, "length_ratio": None,
            })
        return pl.DataFrame(rows, schema=SCHEMA)

    def summary(self, manifest: dict) -> str:
        c = manifest.get("counts", {})
        return (f"train {c.get('train', 0)}, test {c.get('test', 0)} ({c.get('test_targets', 0)} targets x 4 "
                f"personas), {c.get('alignment_examples', 0)} alignment examples")
