"""The orientation rule (alignx/orientation.py), which assemble and evaluate share: a pair
oriented under a profile, the best pair of a post (the vectorized search equals the pairwise
loop), and evaluate's per-target margins equal ``orient``'s."""

from __future__ import annotations

import numpy as np

from alignx.orientation import STYLE_DIMENSIONS, best_pair, content_margin, direction, margins, orient

N = 90


def comment(cid: str, ratings: dict[int, int]) -> dict:
    r = [0] * N
    for d, v in ratings.items():
        r[d] = v
    return {"id": cid, "ratings": r}


def prof(values: dict[int, float]) -> np.ndarray:
    p = np.full(N, 0.5)
    for d, v in values.items():
        p[d] = v
    return p


def test_orient_puts_the_side_the_profile_agrees_with_first():
    a, b = comment("a", {16: 2, 34: -1}), comment("b", {16: -1, 34: 1})
    # the user prefers concise (16 -> 1) and low aggression (34 -> 0): a agrees on both
    chosen, rejected, margin = orient(a, b, prof({16: 1.0, 34: 0.0}), 1)
    assert (chosen["id"], rejected["id"], margin) == ("a", "b", 2)
    chosen, rejected, margin = orient(b, a, prof({16: 1.0, 34: 0.0}), 1)  # argument order does not matter
    assert (chosen["id"], margin) == ("a", 2)
    # one agreement, one disagreement: a tie keeps the given order with margin 0
    chosen, _, margin = orient(a, b, prof({16: 1.0, 34: 1.0}), 1)
    assert (chosen["id"], margin) == ("a", 0)
    # neutral profile dimensions never count
    assert orient(a, b, prof({}), 1)[2] == 0


def test_best_pair_takes_the_largest_margin_and_respects_the_minimum():
    p = prof({16: 1.0, 34: 0.0, 73: 1.0})
    cs = [comment("x", {16: 1, 73: -1}), comment("y", {16: -2, 34: 2, 73: -1}), comment("z", {16: 2, 73: 2})]
    chosen, rejected, margin = best_pair(cs, p, min_margin=1, gap=1)
    assert (chosen["id"], rejected["id"], margin) == ("z", "y", 3)
    assert best_pair(cs, p, min_margin=4, gap=1) is None
    same = [comment("s", {16: 1}), comment("t", {16: 1})]
    assert best_pair(same, p, min_margin=0, gap=1) is None  # identical ratings never make a pair


def _best_pair_loop(comments, p, min_margin, gap):
    """The rule written as the plain pairwise loop (the code before vectorization)."""
    import itertools

    best = None
    for a, b in itertools.combinations(comments[:30], 2):
        if list(a["ratings"]) == list(b["ratings"]):
            continue
        chosen, rejected, margin = orient(a, b, p, gap)
        if margin >= min_margin and (best is None or margin > best[2]):
            best = (chosen, rejected, margin)
    return best


def _random_profile(rng) -> np.ndarray:
    """A sparse profile: mostly 0.5, some dimensions 1 or 0."""
    p = np.full(N, 0.5)
    p[rng.random(N) < 0.15] = 1.0
    p[rng.random(N) < 0.1] = 0.0
    return p


def _assert_same_best_pair(cs, p, min_margin, gap, trial):
    got, want = best_pair(cs, p, min_margin, gap), _best_pair_loop(cs, p, min_margin, gap)
    assert (got is None) == (want is None), trial
    if got:
        assert (got[0]["id"], got[1]["id"], got[2]) == (want[0]["id"], want[1]["id"], want[2]), trial


def test_vectorized_best_pair_equals_the_pairwise_loop():
    """Same pair, same orientation, same margin as the loop over itertools.combinations, ties
    included (sparse ratings in -2..2 make many equal margins), for every margin and gap."""
    rng = np.random.default_rng(5)
    for trial in range(100):
        cs = _random_comments(rng, int(rng.integers(0, 40)), repeats=0.1)  # identical ratings: never a pair
        p = _random_profile(rng)
        for min_margin in (0, 1, 2):
            for gap in (1, 2):
                _assert_same_best_pair(cs, p, min_margin, gap, trial)


def test_best_pair_compares_the_raw_measures_of_siblings():
    """Two siblings with no rating evidence on complexity (46) but written at different levels:
    a user whose profile prefers complex statements gets the more complex one as chosen, the
    pair direction saying so (alignx/directions.py rule 3); without measures they tie."""
    from alignx.directions import MEASURES, relative_direction, relative_rules

    m = np.zeros((2, len(MEASURES)))
    m[:, MEASURES.index("words")] = 50  # same length, the dense one in longer words and sentences
    m[:, MEASURES.index("syllables_per_word")] = [1.3, 1.9]
    m[:, MEASURES.index("words_per_sentence")] = [10, 25]
    m[:, MEASURES.index("grade")] = 0.39 * m[:, MEASURES.index("words_per_sentence")] + \
        11.8 * m[:, MEASURES.index("syllables_per_word")] - 15.59
    assert relative_direction(m[1], m[0], {r["dimension"]: r for r in relative_rules()}[46]) == 1.0
    plain, dense = ({**comment(i, {5: 1 if i == "p" else 0}), "measures": x} for i, x in zip("pd", m))
    chosen, rejected, margin = best_pair([plain, dense], prof({46: 1.0}), min_margin=1, gap=1)
    assert (chosen["id"], rejected["id"], margin) == ("d", "p", 1)
    chosen, _, _ = best_pair([plain, dense], prof({46: 0.0}), min_margin=1, gap=1)
    assert chosen["id"] == "p"  # a user who prefers simple statements
    assert best_pair([{**plain, "measures": None}, {**dense, "measures": None}], prof({46: 1.0}), 1, 1) is None


def test_vectorized_best_pair_with_measures_equals_the_pairwise_loop():
    """With raw measures (some comments without: NaN or None) the vectorized margin is the one
    ``orient`` gives pair by pair."""
    rng = np.random.default_rng(11)
    for trial in range(60):
        cs = _random_comments(rng, int(rng.integers(2, 35)), measures=True, unmeasured=0.1)
        p = _random_profile(rng)
        p[[14, 16, 46]] = rng.choice([0.0, 0.5, 1.0], 3)
        for min_margin in (0, 1, 2):
            _assert_same_best_pair(cs, p, min_margin, 1, trial)




def _random_comments(rng, k: int, measures: bool = False, repeats: float = 0.0,
                     unmeasured: float = 0.0) -> list[dict]:
    """``k`` comments with sparse random ratings; a share ``repeats`` copy the previous one's
    ratings; with ``measures``, random raw measures, None on a share ``unmeasured``."""
    from alignx.directions import MEASURES

    cs = []
    for i in range(k):
        r = np.where(rng.random(N) < 0.08, rng.integers(-2, 3, N), 0)
        if repeats and i and rng.random() < repeats:
            r = np.array(cs[-1]["ratings"])
        c = {"id": f"c{i}", "ratings": r.tolist()}
        if measures:
            draw = {"words": rng.integers(1, 300), "grade": rng.uniform(-2, 18),
                    "syllables_per_word": rng.uniform(1, 2.5), "words_per_sentence": rng.uniform(1, 40)}
            m = np.array([draw[name] for name in MEASURES], dtype=np.float32)
            c["measures"] = None if unmeasured and rng.random() < unmeasured else m
        cs.append(c)
    return cs


def test_margins_over_many_pairs_are_the_margins_orient_gives():
    """evaluate scores a target by ``margins`` over many pairs at once; assemble orients by
    ``orient`` one pair at a time: the same margin, with its sign saying which side is chosen."""
    rng = np.random.default_rng(3)
    for trial in range(40):
        cs = _random_comments(rng, 2 * 12, measures=bool(trial % 2))
        pairs = list(zip(cs[::2], cs[1::2]))
        profiles = np.stack([_random_profile(rng) for _ in pairs])
        got = margins(np.stack([direction(a, b, 1) for a, b in pairs]), profiles)
        for (a, b), p, m in zip(pairs, profiles, got):
            chosen, _, margin = orient(a, b, p, 1)
            assert abs(m) == margin and (m >= 0) == (chosen is a), trial


def _best_pair_loop_with_content(comments, p, min_margin, gap, style, min_content):
    """The content rule and the length tie-break as the plain pairwise loop: the largest margin
    among pairs whose content margin reaches the minimum, then the closest lengths, then the
    first in combinations order."""
    import itertools

    best, best_key = None, None
    for a, b in itertools.combinations(comments[:30], 2):
        if min_margin <= 0 and list(a["ratings"]) == list(b["ratings"]):
            continue
        chosen, rejected, margin = orient(a, b, p, gap)
        if margin < min_margin or content_margin(chosen, rejected, p, gap, style) < min_content:
            continue
        key = (margin, -abs(np.log1p(a["chars"]) - np.log1p(b["chars"])))
        if best is None or key > best_key:
            best, best_key = (chosen, rejected, margin), key
    return best


def test_content_rule_and_length_ties_equal_the_pairwise_loop():
    """With a style set and a minimum content margin, and lengths on every comment, the vectorized
    search takes the pair the loop takes, and every pair it takes rests on a non-style dimension."""
    rng = np.random.default_rng(17)
    found = 0
    for trial in range(80):
        k = int(rng.integers(2, 35))
        cs = [{"id": f"c{i}", "ratings": np.where(rng.random(N) < 0.1, rng.integers(-2, 3, N), 0).tolist(),
               "chars": int(rng.integers(10, 400))} for i in range(k)]
        p = _random_profile(rng)
        p[list(STYLE_DIMENSIONS)] = rng.choice([0.0, 1.0], 3)
        for min_margin, min_content in ((1, 1), (1, 0), (2, 1), (0, 1)):
            got = best_pair(cs, p, min_margin, 1, STYLE_DIMENSIONS, min_content)
            want = _best_pair_loop_with_content(cs, p, min_margin, 1, STYLE_DIMENSIONS, min_content)
            assert (got is None) == (want is None), trial
            if got:
                found += 1
                assert (got[0]["id"], got[1]["id"], got[2]) == (want[0]["id"], want[1]["id"], want[2]), trial
                assert content_margin(got[0], got[1], p, 1) >= min_content
    assert found > 100


def test_a_pair_that_rests_on_style_alone_is_not_taken():
    """A concise user (16 -> 1) and two siblings that differ only in concision: no pair unless the
    style dimensions may decide; a third that also differs on agreeableness (5) makes one."""
    p = prof({16: 1.0, 5: 1.0})
    short, long_ = comment("s", {16: 2}), comment("l", {16: -2})
    assert best_pair([short, long_], p, 1, 1, STYLE_DIMENSIONS, 1) is None
    assert best_pair([short, long_], p, 1, 1, (), 1)[0]["id"] == "s"
    kind = comment("k", {16: -2, 5: 2})
    chosen, rejected, margin = best_pair([short, long_, kind], p, 1, 1, STYLE_DIMENSIONS, 1)
    assert (chosen["id"], rejected["id"]) == ("k", "l") and content_margin(chosen, rejected, p, 1) == 1
    # style against content: the whole margin orients (s over k: +1 on 16, -1 on 5 = 0), so no pair
    assert best_pair([short, kind], p, 1, 1, STYLE_DIMENSIONS, 1) is None


def test_equal_margins_go_to_the_closest_lengths():
    p = prof({5: 1.0})
    cs = [{**comment("a", {5: 2}), "chars": 40}, {**comment("b", {5: 0}), "chars": 400},
          {**comment("c", {5: 0}), "chars": 50}]
    chosen, rejected, margin = best_pair(cs, p, 1, 1, STYLE_DIMENSIONS, 1)
    assert (chosen["id"], rejected["id"], margin) == ("a", "c", 1)  # b is as good a pair but 10x longer
    no_lengths = [{k: v for k, v in c.items() if k != "chars"} for c in cs]
    assert best_pair(no_lengths, p, 1, 1, STYLE_DIMENSIONS, 1)[1]["id"] == "b"  # first in combinations order


def test_a_community_leaning_is_the_pole_most_of_its_users_hold():
    from alignx.orientation import community_profile

    users = np.full((10, N), 0.5)
    users[:8, 69] = 1.0  # 8 of 10 like finance
    users[:3, 5], users[3:5, 5] = 1.0, 0.0  # agreeableness split 3 to 2: no leaning
    users[0, 73] = 1.0  # one user likes humour: below the share
    leaning = community_profile(users, 0.2)
    assert leaning[69] == 1.0 and leaning[5] == 0.5 and leaning[73] == 0.5
    assert (np.delete(leaning, 69) == 0.5).all()
    assert (community_profile(users[:0], 0.2) == 0.5).all()


def test_with_a_leaning_only_the_users_own_poles_decide_a_pair():
    """A user who likes finance (the forum's leaning) and humour: a pair more about finance is not
    kept, nor one trading finance against humour the leaning would choose; a pair decided by
    humour, level on finance, is."""
    user = prof({69: 1.0, 73: 1.0})
    forum = prof({69: 1.0})
    finance = [comment("f", {69: 2}), comment("n", {})]
    assert best_pair(finance, user, 1, 1)[0]["id"] == "f"
    assert best_pair(finance, user, 1, 1, community=forum) is None
    traded = [comment("f", {69: 2}), comment("h", {73: 2})]  # finance against humour: margin 0 for the user
    assert best_pair(traded, user, 0, 1, community=forum) is None
    humour = [comment("a", {69: 1, 73: 2}), comment("b", {69: 1})]
    chosen, rejected, margin = best_pair(humour, user, 1, 1, community=forum)
    assert (chosen["id"], rejected["id"], margin) == ("a", "b", 1)
