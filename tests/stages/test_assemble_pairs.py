"""Unit tests of assemble's candidate index, split assignment and leak removal
(stages/assemble/pairs.py), by hand-computed cases."""

from __future__ import annotations

import polars as pl

from stages.assemble.pairs import CandidateIndex, Split, HeldByTest, split_hash
from stages.assemble.stage import SCHEMA, community_signals


def thread() -> pl.DataFrame:
    """Post P: top-level a (alice), b (bob), f (carol); c (carol) and d (dave) answer a; e (bob) answers c."""
    rows = [("a", "P", "P", True, "alice"), ("b", "P", "P", True, "bob"), ("f", "P", "P", True, "carol"),
            ("c", "P", "a", False, "carol"), ("d", "P", "a", False, "dave"), ("e", "P", "c", False, "bob")]
    return pl.DataFrame([{"id": i, "link_id": l, "parent_id": par, "is_top_level": top, "author": au,
                          "body": f"text {i}", "ratings": [0] * 90} for i, l, par, top, au in rows])


def test_siblings_group_responses_to_the_same_text():
    index = CandidateIndex(thread(), "siblings")
    groups = {g: sorted(c["id"] for c in index.members(g)) for g in index.groups()}
    assert groups == {"P": ["a", "b", "f"], "a": ["c", "d"], "c": ["e"]}
    assert {g: index.thread(g) for g in index.groups()} == {"P": "P", "a": "P", "c": "P"}
    # carol answered the post (f) and a (c): her groups; her own comments are never candidates
    assert index.groups_of(index.own("carol")) == ["P", "a"]
    assert [c["id"] for c in index.others("a", "carol")] == ["d"]
    assert [c["id"] for c in index.others("P", "carol", lambda au: au != "bob")] == ["a"]


def test_top_level_pairs_only_top_level_comments_of_a_post():
    index = CandidateIndex(thread(), "top_level")
    assert {g: sorted(c["id"] for c in index.members(g)) for g in index.groups()} == {"P": ["a", "b", "f"]}
    # dave only replied, but he commented on the post: its top-level comments are his candidates
    assert index.groups_of(index.own("dave")) == ["P"]


def test_split_is_seeded_per_item_and_never_empty():
    users = [f"u{i}" for i in range(300)]
    threads = [f"p{i}" for i in range(30)]
    s = Split.decide(users, threads, 7, 0.2, 0.33)
    assert 0.14 < len(s.test_users) / 300 < 0.26 and 5 <= len(s.test_threads) <= 15
    assert s == Split.decide(list(reversed(users)), threads, 7, 0.2, 0.33)
    # removing one user moves no other user
    assert Split.decide(users[1:], threads, 7, 0.2, 0.33).test_users == s.test_users - {"u0"}
    assert s.test_users == {u for u in users if split_hash(7, "user", u) < 0.2}
    assert s.test_threads == {t for t in threads if split_hash(7, "thread", t) < 0.33}
    tiny = Split.decide(["x", "y"], ["p", "q"], 7, 0.01, 0.01)
    assert len(tiny.test_users) == 1 and len(tiny.test_threads) == 1


def test_own_side_and_allowed_authors():
    s = Split(test_users=frozenset({"t"}), test_threads=frozenset({"P1"}))
    own = [{"link_id": "P1"}, {"link_id": "P2"}, {"link_id": "P1"}]
    assert s.own_side("t", own) == ([own[0], own[2]], 1)
    assert s.own_side("r", own) == ([own[1]], 2)
    assert s.allowed_author("t") is None  # test examples live in test threads only
    allowed = s.allowed_author("r")
    assert allowed("r2") and not allowed("t")  # a test user's words never reach train


def example(eid, user, post, prompt, chosen, rejected, *, ugc=(), source="reddit", ids=()) -> dict:
    return {**{k: None for k in SCHEMA}, "id": eid, "source": source, "user": user, "post_id": post,
            "prompt": prompt, "chosen": chosen, "rejected": rejected, "persona_type": "all",
            "ugc": [{"prompt": p, "comment": c, "Preference Direction": [0.5] * 90} for p, c in ugc], "pair": [],
            "source_ids": [post, *ids], "prompt_ids": [post], "thread_ids": [post]}


def test_remove_leaks_drops_train_rows_touching_test_by_reason():
    test = pl.DataFrame([example("t1", "ut", "P1", "post one", "yes", "no", ugc=[("post three", "mine")],
                                 ids=["c1", "c2"])], schema=SCHEMA)
    train = pl.DataFrame([
        example("r1", "ut", "P2", "post two", "a", "b"),                           # a test user
        example("r2", "u2", "P2", "post two", "c", "d", ids=["c1"]),               # a test comment
        example("r3", "u3", "P4", "post four", "e", "f", ugc=[("post five", "mine")]),  # a test text
        example("r4", "u4", "P4", "post four", "g", "h"),                          # clean
        example("r5", "ultrafeedback", "uf-1", "instruction", "yes", "x", source="ultrafeedback"),  # shares "yes"
    ], schema=SCHEMA)
    side = HeldByTest(test)
    assert side.shared(train).counts() == {"texts": 2, "ids": 1, "users": 1}
    kept, dropped = side.remove_leaks(train)
    assert kept["id"].to_list() == ["r4"]
    assert dropped == {"user_in_test": 1, "post_in_test": 1, "text_in_test": 2}
    assert side.shared(kept).counts() == {"texts": 0, "ids": 0, "users": 0}
    # gathered frame by frame, test and train give the same answers
    halves = HeldByTest()
    halves.add(test[:0])
    halves.add(test)
    assert halves.remove_leaks(train[:2])[1] + halves.remove_leaks(train[2:])[1] == dropped


def test_community_signals():
    chosen = {"score": 12, "created_utc": 1000, "body": "x" * 30}
    rejected = {"score": 4, "created_utc": 400, "body": "y" * 10}
    assert community_signals(chosen, rejected) == {"score_ratio": 3.0, "seconds_between": 600, "length_ratio": 3.0}
    assert community_signals({**chosen, "score": 0}, rejected)["score_ratio"] is None


def test_first_candidates_keeps_every_candidate_a_user_of_the_shard_can_reach():
    """A large group (a post's 200 top-level comments by 50 authors, 20 of them test users, with
    the shard's authors scattered through it) cut to what the shard's users can reach: every
    user's candidates (the first few by other, allowed authors) are the same as without the cut,
    in both pairing modes and on both sides of the split."""
    import random

    from stages.assemble.stage import first_candidates

    rng = random.Random(3)
    authors = [f"a{i}" for i in range(50)]
    test_users = frozenset(authors[:20])
    rows = [{"id": f"c{i:03d}", "link_id": "P", "parent_id": "P" if i % 4 else "c000", "is_top_level": bool(i % 4),
             "author": rng.choice(authors), "recurring_post": False, "created_utc": i, "body": "x",
             "ratings": [0] * 90} for i in range(200)]
    full = pl.DataFrame(rows)
    shard = ["a3", "a30", "a45"]  # a test user and two train users of the shard
    split = Split(test_users=test_users, test_threads=frozenset())
    for pairs_from in ("siblings", "top_level"):
        cut = first_candidates(full, pairs_from, shard, test_users, limit=5)
        assert cut.height < full.height
        whole, kept = CandidateIndex(full, pairs_from), CandidateIndex(cut, pairs_from)
        for user in shard:
            for group in whole.groups_of(whole.own(user)):
                allowed = split.allowed_author(user)
                assert ([c["id"] for c in kept.others(group, user, allowed, 5)]
                        == [c["id"] for c in whole.others(group, user, allowed, 5)]), (pairs_from, user, group)
