"""Candidate pairs, splits and leak checks of stage ``assemble``.

Candidate pairs are responses to the same text (SHP's rule): siblings, i.e. comments that
answer the same parent (the post for top-level comments, a comment for replies), or, with
``assemble.pairs_from = "top_level"``, only top-level comments of the same post (SHP's own
choice). ``CandidateIndex`` groups responses by what they answer once per shard: the shard's
users' own comments and the candidates of the groups they answered in (``group_filter``), read
from the comment table by a filtered scan, never the whole table. The top-level comments of a
recurring post (a daily discussion whose prompt is its title alone) answer nothing in common and
are never candidates (``unpaired``); replies to one comment there are.

Length balance (``length_balance``): a split whose chosen response is the shorter (or the
longer) in more than a share of its rows loses the excess rows of that side, in a seeded order.

Splits (``Split``): a user goes to test when a seeded hash falls below ``test_share``, a
thread when another falls below ``test_thread_share``; an example is test when its user and its
target thread both are, train when neither is, and the crossing combinations are not built
(counted). Each example's history is drawn from threads of its own split only, and a train
example never uses a comment written by a test user, so no text, post or user crosses.
``HeldByTest`` then gathers what the built test examples hold and ``remove_leaks`` drops, from
train, whatever still shares text, an id or a user with test (identical texts in two threads: copypasta).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter
from dataclasses import dataclass

import numpy as np
import polars as pl

from alignx.candidates import PAIRS_FROM, UNPAIRED  # noqa: F401  (the rule annotate rates by: one place)
from pipeline.io import stable_hash


class CandidateIndex:
    """Responses per reply group and comments per author, built once per shard.

    ``comments``: one row per rated comment with id, link_id, parent_id, is_top_level, author,
    body, prompt, prompt_ids, score, created_utc, subreddit and ``ratings`` (sorted by link_id,
    created_utc, id). ``ratings``, when given, is the (n, 90) int16 matrix of the rows' gated
    ratings, aligned with ``comments``: each row dict then holds its matrix row (no Python list
    of 90 ints per comment), and ``comments`` needs no ratings column. ``measures``, when given,
    is the (n, len(MEASURES)) matrix of the rows' raw measures (NaN: none), held as ``measures``
    the same way (None where NaN). A group is the parent a
    comment answers (``pairs_from = "siblings"``) or the post (``"top_level"``, where only
    top-level comments are candidates).
    """

    def __init__(self, comments: pl.DataFrame, pairs_from: str, ratings: np.ndarray | None = None,
                 measures: np.ndarray | None = None):
        self.siblings = pairs_from == "siblings"
        self.by_group: dict[str, list[dict]] = {}
        self.by_author: dict[str, list[dict]] = {}
        self.thread_of: dict[str, str] = {}
        if ratings is not None:
            comments = comments.drop("ratings", strict=False)
        names = comments.columns
        # column lists zipped into dicts: what iter_rows(named=True) gives, several times faster
        for i, values in enumerate(zip(*(comments[c].to_list() for c in names))):
            row = dict(zip(names, values))
            if ratings is not None:
                row["ratings"] = ratings[i]
            if measures is not None:
                row["measures"] = None if np.isnan(measures[i]).any() else measures[i]
            self.by_author.setdefault(row["author"], []).append(row)
            if (self.siblings or row["is_top_level"]) and not unpaired(row):
                g = self.group(row)
                self.by_group.setdefault(g, []).append(row)
                self.thread_of[g] = row["link_id"]

    def group(self, comment: dict) -> str:
        """What ``comment`` answers, as a group key: its parent's id, or its post's id."""
        return comment["parent_id"] if self.siblings else comment["link_id"]

    def groups_of(self, own: list[dict]) -> list[str]:
        """The groups a user's comments answer (sorted), where there is someone else to pair."""
        return sorted({self.group(c) for c in own} & self.by_group.keys())

    def others(self, group: str, user: str, allowed=None, limit: int | None = None) -> list[dict]:
        """Candidates of ``group`` not written by ``user`` (and by an ``allowed`` author, when
        given), in order; the first ``limit`` of them when given."""
        found = (c for c in self.by_group.get(group, []) if c["author"] != user and (allowed is None or allowed(c["author"])))
        return list(itertools.islice(found, limit))


def unpaired(comment: dict) -> bool:
    """A top-level comment of a recurring post (a daily discussion: ``recurring_post``, which
    ingest_reddit sets for a templated body or a recurring dated title): it answers nothing its
    siblings answer, so it is never a candidate (replies to one comment there still are)."""
    return bool(comment["is_top_level"] and comment.get("recurring_post"))


def group_filter(pairs_from: str, own: pl.DataFrame) -> pl.Expr:
    """The rows of the comment table that are candidates in the groups ``own`` answers: every
    comment answering the same parent (siblings), or the top-level comments of the same posts;
    never a top-level comment of a recurring post (``unpaired``)."""
    if pairs_from == "siblings":
        return pl.col("parent_id").is_in(own["parent_id"].unique().implode()) & ~UNPAIRED
    return pl.col("is_top_level") & pl.col("link_id").is_in(own["link_id"].unique().implode()) & ~UNPAIRED


def split_hash(seed: int, kind: str, key: str) -> float:
    """Seeded hash of one user or thread in [0, 1): removing one moves nobody else."""
    h = int(stable_hash([seed, "split", key] if kind == "user" else [seed, "split", kind, key])[:8], 16)
    return h / 16**8


@dataclass
class Split:
    """Test users and test threads. A test split is never empty: when no hash falls below the
    share, the user (thread) with the lowest hash goes to test."""

    test_users: frozenset
    test_threads: frozenset

    @classmethod
    def decide(cls, users, threads, seed: int, test_share: float, thread_share: float) -> "Split":
        """Users whose seeded hash falls below ``test_share`` and threads whose seeded hash falls
        below ``thread_share``: removing one moves nobody else (a forgotten user's posts take
        only their own threads away). Each side gets at least one when there are two."""

        def pick(keys, kind, share):
            h = {k: split_hash(seed, kind, k) for k in sorted(set(keys))}
            chosen = {k for k, v in h.items() if v < share}
            if not chosen and share > 0 and len(h) >= 2:
                chosen = {min(h, key=lambda k: (h[k], k))}
            return frozenset(chosen)

        return cls(pick(users, "user", test_share), pick(threads, "thread", thread_share))

    def user_is_test(self, user: str) -> bool:
        return user in self.test_users

    def thread_is_test(self, thread: str) -> bool:
        return thread in self.test_threads

    def own_side(self, user: str, own: list[dict]) -> tuple[list[dict], int]:
        """The user's comments in threads of the user's own split, and how many cross."""
        side = self.user_is_test(user)
        kept = [c for c in own if self.thread_is_test(c["link_id"]) == side]
        return kept, len(own) - len(kept)

    def allowed_author(self, user: str):
        """Whose comments a user's examples may use: anyone in test; in train, train users only
        (a test user's words never reach train)."""
        if self.user_is_test(user):
            return None
        return lambda author: author not in self.test_users


# -- leak checks on built examples ----------------------------------------------------------------

def example_texts(row: dict) -> set[str]:
    """Every text of an example: target prompt, chosen, rejected, and its history items."""
    out = {row["prompt"], row["chosen"], row["rejected"]}
    for u in row["ugc"] or []:
        out |= {u["prompt"], u["comment"]}
    for x in row["pair"] or []:
        out |= {x["prompt"], x["chosen"], x["rejected"]}
    return out - {None, ""}


def example_ids(row: dict) -> set[str]:
    """Every post and comment id an example uses: target post, prompt parts, sources, history threads."""
    return {row["post_id"], *(row["source_ids"] or []), *(row["prompt_ids"] or []),
            *(row["thread_ids"] or [])} - {None, ""}


def text_digests(row: dict) -> set[bytes]:
    """``example_texts`` of a row as 16-byte digests: what ``HeldByTest`` keeps of a text (a few
    percent of a prompt's size; two texts with one digest are as likely as a guessed key)."""
    return {hashlib.blake2b(t.encode(), digest_size=16).digest() for t in example_texts(row)}


class HeldByTest:
    """What test holds (its texts, as digests; post and comment ids; Reddit users), gathered
    frame by frame (``add``), so train can be checked against it without holding test's rows."""

    def __init__(self, test: pl.DataFrame | None = None):
        self.texts: set[bytes] = set()
        self.ids: set[str] = set()
        self.users: set[str] = set()
        if test is not None:
            self.add(test)

    def add(self, test: pl.DataFrame) -> None:
        for row in test.iter_rows(named=True):
            self.texts |= text_digests(row)
            self.ids |= example_ids(row)
        self.users |= set(test.filter(pl.col("source") == "reddit")["user"].to_list())

    def leak_reasons(self, train: pl.DataFrame) -> list[str | None]:
        """Per train row, the first way it touches test (``user_in_test``, ``post_in_test``:
        shares a post or comment id, ``text_in_test``: shares a text), or None."""
        reasons = []
        for row in train.iter_rows(named=True):
            if row["source"] == "reddit" and row["user"] in self.users:
                reasons.append("user_in_test")
            elif example_ids(row) & self.ids:
                reasons.append("post_in_test")
            elif text_digests(row) & self.texts:
                reasons.append("text_in_test")
            else:
                reasons.append(None)
        return reasons

    def remove_leaks(self, train: pl.DataFrame) -> tuple[pl.DataFrame, Counter]:
        """Train without the rows that touch test; the dropped rows counted by reason."""
        reasons = self.leak_reasons(train)
        keep = pl.Series([r is None for r in reasons], dtype=pl.Boolean)
        return train.filter(keep) if train.height else train, Counter(r for r in reasons if r)

    def shared(self, train: pl.DataFrame) -> "HeldByTest":
        """The texts, ids and users of ``train`` that test holds too (empty in a clean release);
        ``shared.update(...)`` gathers them over many train frames."""
        other = HeldByTest(train)
        out = HeldByTest()
        out.texts, out.ids, out.users = other.texts & self.texts, other.ids & self.ids, other.users & self.users
        return out

    def update(self, other: "HeldByTest") -> None:
        self.texts |= other.texts
        self.ids |= other.ids
        self.users |= other.users

    def counts(self) -> dict[str, int]:
        return {"texts": len(self.texts), "ids": len(self.ids), "users": len(self.users)}


# -- length balance ---------------------------------------------------------------------------------

#: -1 where the chosen response is the shorter (in characters), 1 where it is the longer, 0 where
#: both are as long.
LENGTH_SIDE = (pl.col("chosen").str.len_chars().cast(pl.Int64)
               - pl.col("rejected").str.len_chars().cast(pl.Int64)).sign().alias("length_side")


def length_sides(df: pl.DataFrame) -> np.ndarray:
    """Per row (int), ``LENGTH_SIDE``: from the column ``length_side`` where ``df`` has it (the
    slim frame assemble's finish decides on holds no responses)."""
    if not df.height:
        return np.zeros(0, dtype=np.int64)
    return (df["length_side"] if "length_side" in df.columns else df.select(LENGTH_SIDE).to_series()).to_numpy()


#: A split of fewer rows is left as it is: the share of a handful says nothing (3 of 4 is 75%),
#: and balancing it would empty the demo corpus's test split.
MIN_BALANCE_ROWS = 20


def length_balance(df: pl.DataFrame, max_share: float, seed: int, scope: str) -> tuple[pl.DataFrame, dict]:
    """``df`` (rows with id, chosen, rejected) without the excess rows of its majority length side:
    when the chosen response is the shorter (or the longer) in more than ``max_share`` of the
    rows, that side keeps only its first rows in a seeded order of their ids (``stable_hash``
    of seed, "length_balance", ``scope``, id: removing one row moves no other), as many as
    bring its share to at most ``max_share``; the other rows keep their order. ``max_share`` >= 1,
    or fewer than ``MIN_BALANCE_ROWS`` rows, keeps every row. Returns the rows kept and what was
    found: rows, shorter, longer, dropped.

    Why: on a forum the orienting profiles lean concise, and a release whose chosen response is
    the shorter in most rows teaches "prefer the shorter", not the persona. Fewer rows are
    released rather than rows a length rule explains."""
    sides = length_sides(df)
    n, shorter, longer = len(sides), int((sides < 0).sum()), int((sides > 0).sum())
    report = {"rows": n, "shorter": shorter, "longer": longer, "dropped": 0}
    if max_share >= 1 or n < MIN_BALANCE_ROWS:
        return df, report
    side = -1 if shorter >= longer else 1
    many = max(shorter, longer)
    if many <= max_share * n:
        return df, report
    # keep k of the majority side with k / (n - many + k) <= max_share
    keep = int(np.floor(max_share * (n - many) / (1 - max_share) + 1e-9))
    ids = df["id"].to_list()
    majority = [ids[i] for i in np.flatnonzero(sides == side)]
    ranked_ids = sorted(majority, key=lambda x: stable_hash([seed, "length_balance", scope, x]))
    drop = set(ranked_ids[keep:])
    report["dropped"] = len(drop)
    return df.filter(~pl.col("id").is_in(sorted(drop))), report
