"""Candidate pairs, splits and leak checks of stage ``assemble``.

Candidate pairs are responses to the same text (SHP's rule): siblings, i.e. comments that
answer the same parent (the post for top-level comments, a comment for replies), or, with
``assemble.pairs_from = "top_level"``, only top-level comments of the same post (SHP's own
choice). ``CandidateIndex`` groups responses by what they answer once per shard: the shard's
users' own comments and the candidates of the groups they answered in (``group_filter``), read
from the comment table by a filtered scan, never the whole table. The top-level comments of a
recurring post (a daily discussion whose prompt is its title alone) answer nothing in common and
are never candidates (``UNPAIRED``); replies to one comment there are.

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

import bisect
import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from alignx.candidates import PAIRS_FROM, UNPAIRED, group_key, is_candidate  # noqa: F401  (the rule annotate rates by: one place)
from pipeline.io import stable_hash


class Column:
    """One column of ``CandidateIndex``, held as columns are: strings as int32 codes into their
    sorted distinct values (a thread's id is held once, not once a comment), other scalars as a
    numpy array beside a null mask, anything else (lists) as a Python list. ``value(i)`` is what
    polars' ``to_list()`` gives for row ``i``."""

    def __init__(self, s: pl.Series):
        self.values = self.codes = self.array = self.nulls = None
        if s.dtype == pl.String:
            self.values = s.drop_nulls().unique().sort().to_list()
            self.codes = s.cast(pl.Enum(self.values)).to_physical().cast(pl.Int32).fill_null(-1).to_numpy()
        elif s.dtype.is_numeric() or s.dtype == pl.Boolean:
            self.nulls = s.is_null().to_numpy()
            self.array = s.fill_null(False if s.dtype == pl.Boolean else 0).to_numpy()
        else:
            self.values = s.to_list()

    def value(self, i: int):
        if self.codes is not None:
            c = self.codes[i]
            return self.values[c] if c >= 0 else None
        if self.array is not None:
            return None if self.nulls[i] else self.array[i].item()
        return self.values[i]

    def code(self, value: str) -> int:
        """The code of a string value, -1 when no row holds it."""
        at = bisect.bisect_left(self.values, value)
        return at if at < len(self.values) and self.values[at] == value else -1


def spans(codes: np.ndarray, rows: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``rows`` ordered by their ``codes`` (stably: each code's rows keep their order) and, per
    code, where its rows start and end in that order."""
    order = rows[np.argsort(codes[rows], kind="stable")]
    sorted_codes = codes[order]
    at = np.arange(n_codes)
    return order, np.searchsorted(sorted_codes, at, "left"), np.searchsorted(sorted_codes, at, "right")


class Comment(Mapping):
    """One comment of a ``CandidateIndex`` as a read-only dict of its columns, ``ratings`` and
    ``measures`` (None where NaN), each read from the index when asked for: scoring a group reads
    a candidate's ratings, measures and length, never its other columns. ``update`` adds keys
    (the texts of the comments an example uses) on top."""

    __slots__ = ("index", "i", "extra")

    def __init__(self, index: "CandidateIndex", i: int):
        self.index, self.i, self.extra = index, i, None

    def __getitem__(self, key: str):
        if self.extra is not None and key in self.extra:
            return self.extra[key]
        index = self.index
        if key == "ratings" and index.ratings is not None:
            return index.ratings[self.i]
        if key == "measures" and index.measures is not None:
            return index.measures[self.i] if index.measured[self.i] else None
        return index.columns[key].value(self.i)

    def keys(self):
        held = [k for k, v in (("ratings", self.index.ratings), ("measures", self.index.measures)) if v is not None]
        return list(dict.fromkeys([*self.index.columns, *held, *(self.extra or {})]))

    def __iter__(self):
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def update(self, values: dict) -> None:
        self.extra = {**(self.extra or {}), **values}


class CandidateIndex:
    """Responses per reply group and comments per author, built once per shard.

    ``comments``: one row per rated comment with id, link_id, parent_id, is_top_level, author,
    score, created_utc, subreddit, recurring_post... (sorted by link_id, created_utc, id: the
    candidates' order). ``ratings``, when given, is the (n, 90) int16 matrix of the rows' gated
    ratings, aligned with ``comments`` (then ``comments`` needs no ratings column); ``measures``,
    when given, the (n, len(MEASURES)) matrix of their raw measures (NaN: none). A group is the
    parent a comment answers (``pairs_from = "siblings"``) or the post (``"top_level"``, where
    only top-level comments are candidates).

    The index holds columns (``Column``) and row positions; a comment is handed out as a
    ``Comment`` (a read-only mapping of its columns, ``ratings`` and ``measures``: None where NaN)
    when a user's turn asks for it (``own``, ``others``). A dict per comment held for the whole
    shard (about a kilobyte each) made a shard's memory follow the number of threads its users
    answered in. Candidates: ``alignx.candidates.is_candidate`` (a top-level comment of a
    recurring post never is).
    """

    def __init__(self, comments: pl.DataFrame, pairs_from: str, ratings: np.ndarray | None = None,
                 measures: np.ndarray | None = None):
        self.siblings = pairs_from == "siblings"
        if ratings is not None:
            comments = comments.drop("ratings", strict=False)
        self.columns = {name: Column(comments[name]) for name in comments.columns}
        self.ratings = ratings
        self.measures = measures
        self.measured = None if measures is None else ~np.isnan(measures).any(axis=1)
        rows = np.arange(comments.height)
        self.author = self.columns["author"]
        self.by_author, self.author_start, self.author_end = spans(self.author.codes, rows, len(self.author.values))
        flags = comments.select(pl.col("is_top_level").fill_null(False),
                                (pl.col("recurring_post") if "recurring_post" in comments.columns else pl.lit(None))
                                .cast(pl.Boolean).fill_null(False).alias("recurring_post"))
        candidate = flags.select(is_candidate(pairs_from)).to_series().to_numpy()
        self.key_name = group_key(pairs_from).meta.output_name()
        self.key = self.columns[self.key_name]
        candidate &= self.key.codes >= 0
        self.by_group, self.group_start, self.group_end = spans(self.key.codes, rows[candidate], len(self.key.values))

    def row(self, i: int) -> "Comment":
        """Comment ``i``: its columns, ``ratings`` and ``measures``, read when asked for."""
        return Comment(self, i)

    def group(self, comment: dict) -> str:
        """What ``comment`` answers, as a group key: its parent's id, or its post's id."""
        return comment[self.key_name]

    def _members(self, group: str) -> np.ndarray:
        code = self.key.code(group)
        return self.by_group[self.group_start[code]:self.group_end[code]] if code >= 0 else self.by_group[:0]

    def groups(self) -> list[str]:
        """Every group with a candidate, sorted."""
        return [self.key.values[c] for c in np.flatnonzero(self.group_end > self.group_start)]

    def members(self, group: str) -> list[Comment]:
        """The candidates of ``group``, in order."""
        return [self.row(i) for i in self._members(group)]

    def thread(self, group: str) -> str:
        """The post a group's candidates answer under."""
        return self.columns["link_id"].value(self._members(group)[0])

    def own(self, user: str) -> list[Comment]:
        """The comments by ``user``, in order."""
        code = self.author.code(user)
        return [self.row(i) for i in self.by_author[self.author_start[code]:self.author_end[code]]] if code >= 0 else []

    def groups_of(self, own: list[dict]) -> list[str]:
        """The groups a user's comments answer (sorted), where there is someone else to pair."""
        return sorted(g for g in {self.group(c) for c in own} if len(self._members(g)))

    def others(self, group: str, user: str, allowed=None, limit: int | None = None) -> list[Comment]:
        """Candidates of ``group`` not written by ``user`` (and by an ``allowed`` author, when
        given), in order; the first ``limit`` of them when given."""
        mine, names, found = self.author.code(user), self.author.values, []
        for i in self._members(group):
            if limit is not None and len(found) >= limit:
                break
            a = self.author.codes[i]
            if a != mine and (allowed is None or allowed(names[a] if a >= 0 else None)):
                found.append(self.row(i))
        return found


def group_filter(pairs_from: str, own: pl.DataFrame) -> pl.Expr:
    """The rows of the comment table that are candidates in the groups ``own`` answers: every
    comment answering the same parent (siblings), or the top-level comments of the same posts;
    never a top-level comment of a recurring post (``UNPAIRED``)."""
    key = group_key(pairs_from)
    return is_candidate(pairs_from) & key.is_in(own.select(key.unique()).to_series().implode())


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
