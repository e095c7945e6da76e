"""Which comments can enter the dataset: the one rule ``assemble`` builds from and ``annotate``
rates by (so an LLM annotator pays only for comments that can end up in a release).

assemble (docs/stages/assemble.md) uses a comment in one of two ways:

- **history or profile**: a user with at least ``assemble.min_comments`` rated comments has every
  one of them read (UGC history, the profile that orients their pairs, Demographic Information);
- **candidate of a pair**: a response to the same text as a comment of such a user (``pairs_from``
  "siblings": the same parent; "top_level": a top-level comment of the same post), written by
  someone else, in a group where that user has at least two other candidates to choose between.
  The top-level comments of a recurring post (a daily discussion: ``UNPAIRED``) answer nothing in
  common and are never candidates.

Every other comment cannot enter the dataset: its author has too few comments and it answers
nothing such an author answered (with a second candidate beside it). ``dataset_comments`` is a
superset of what assemble ends up using: it reads the comments before rating (assemble counts
rated ones; a failed rating only lowers the count) and ignores the user / thread split, the
candidate cap and the orientation rule, which all depend on the ratings or on assemble's seed.
"""

from __future__ import annotations

import polars as pl

PAIRS_FROM = ("siblings", "top_level")

#: A top-level comment of a recurring post (``recurring_post``, set by ingest_reddit for a
#: templated body or a recurring dated title): never a candidate, since its siblings answer only
#: the bare title. Replies to one comment there still are.
UNPAIRED = pl.col("is_top_level") & pl.col("recurring_post")

#: The columns of anonymize's ``threads`` the rule reads.
COLUMNS = ("id", "author", "link_id", "parent_id", "is_top_level", "recurring_post")


def group_key(pairs_from: str) -> pl.Expr:
    """What a comment answers, as a group: its parent (siblings) or its post (top_level)."""
    if pairs_from not in PAIRS_FROM:
        raise ValueError(f"pairs_from must be one of {PAIRS_FROM}, not {pairs_from!r}")
    return pl.col("parent_id") if pairs_from == "siblings" else pl.col("link_id")


def is_candidate(pairs_from: str) -> pl.Expr:
    """The comments that can be a candidate of some group."""
    return ~UNPAIRED if pairs_from == "siblings" else pl.col("is_top_level") & ~UNPAIRED


def dataset_comments(threads: pl.LazyFrame, min_comments: int, pairs_from: str) -> pl.LazyFrame:
    """The ids (column ``id``, unique, sorted) of the comments of ``threads`` (anonymize's comment
    table, at least ``COLUMNS``) that can enter the dataset (module docstring)."""
    t = threads.select(*COLUMNS).with_columns(group_key(pairs_from).alias("_g"))
    users = t.group_by("author").len().filter(pl.col("len") >= min_comments).select("author")
    history = t.join(users, on="author", how="semi").select("id")
    cands = t.filter(is_candidate(pairs_from)).select("id", "author", "_g")
    per_group = cands.group_by("_g").len().rename({"len": "_n"})
    per_author = cands.group_by("_g", "author").len().rename({"author": "_u", "len": "_own"})
    # (group, user): a user with enough comments who answered in the group, and how many of the
    # group's candidates are someone else's
    answered = (t.join(users, on="author", how="semi").select("_g", pl.col("author").alias("_u")).unique()
                .join(per_group, on="_g").join(per_author, on=["_g", "_u"], how="left")
                .filter(pl.col("_n") - pl.col("_own").fill_null(0) >= 2).select("_g", "_u"))
    paired = cands.join(answered, on="_g").filter(pl.col("author") != pl.col("_u")).select("id")
    return pl.concat([history, paired]).unique().sort("id")
