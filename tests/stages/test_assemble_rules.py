"""Unit tests of assemble's rules, by hand-computed cases: orientation of a pair under a
profile, the best pair of a post, and the community's order."""

from __future__ import annotations

import numpy as np

from stages.assemble.stage import best_pair, community_order, orient, ranked

N = 90


def comment(cid: str, ratings: dict[int, int], *, score: int | None = 1, t: int = 0) -> dict:
    r = [0] * N
    for d, v in ratings.items():
        r[d] = v
    return {"id": cid, "ratings": r, "score": score, "created_utc": t}


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


def test_community_order_needs_a_later_comment_with_twice_the_score():
    early, late = comment("e", {}, score=3, t=100), comment("l", {}, score=6, t=200)
    assert community_order(late, early) == "agrees"
    assert community_order(early, late) == "disagrees"
    assert community_order(late, comment("e", {}, score=4, t=100)) == "undetermined"  # 6 < 2 x 4
    assert community_order(late, comment("e", {}, score=1, t=100)) == "undetermined"  # scores below 2
    assert community_order(late, comment("e", {}, score=None, t=100)) == "undetermined"


def test_ranked_order_of_the_others_survives_removing_one_item():
    items = [f"u{i}" for i in range(20)]
    order = ranked(items, lambda x: x, 7, "scope")
    without = ranked([x for x in items if x != order[3]], lambda x: x, 7, "scope")
    assert without == [x for x in order if x != order[3]]
    assert ranked(items, lambda x: x, 8, "scope") != order  # the seed matters


def test_traits_are_few_evidenced_and_never_contradict():
    from alignx.persona import traits
    from stages.assemble.demographic import NO_SIGNAL, template

    def direction(values: dict[int, float]) -> np.ndarray:
        return prof(values)

    # Dominance (29) and Deference (30) both towards label_1: only the stronger one is named
    history = [direction({29: 1.0, 30: 1.0, 16: 1.0}), direction({29: 1.0, 16: 1.0}), direction({29: 1.0, 30: 1.0})]
    text = traits(history, 12)
    assert "Dominance" in text and "Deference" not in text and "Concise" in text
    # at most max_traits, strongest first
    many = [direction({d: 1.0 for d in range(47, 90)}), direction({d: 1.0 for d in range(47, 60)})]
    assert len(traits(many, 12).split(", ")) == 12
    assert "science" in traits(many, 12) and "fashion" not in traits(many, 12)
    # an interest is named only as liked: choosing a response not about finance is no dislike of it
    assert traits([direction({69: 0.0, 16: 1.0})] * 2, 12) == "Concise communication style"
    # nothing with evidence: no traits, and the sentence says so
    assert traits([direction({})], 12) == "" and template("") == NO_SIGNAL


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
        k = int(rng.integers(0, 40))
        cs = []
        for i in range(k):
            r = np.where(rng.random(N) < 0.08, rng.integers(-2, 3, N), 0)
            if i and rng.random() < 0.1:
                r = np.array(cs[-1]["ratings"])  # identical ratings, never a pair
            cs.append({"id": f"c{i}", "ratings": r.tolist()})
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
    from alignx.directions import MEASURES

    rng = np.random.default_rng(11)
    for trial in range(60):
        k = int(rng.integers(2, 35))
        cs = []
        for i in range(k):
            r = np.where(rng.random(N) < 0.08, rng.integers(-2, 3, N), 0)
            draw = {"words": rng.integers(1, 300), "grade": rng.uniform(-2, 18),
                    "syllables_per_word": rng.uniform(1, 2.5), "words_per_sentence": rng.uniform(1, 40)}
            m = np.array([draw[name] for name in MEASURES], dtype=np.float32)
            cs.append({"id": f"c{i}", "ratings": r.tolist(), "measures": None if rng.random() < 0.1 else m})
        p = _random_profile(rng)
        p[[14, 16, 46]] = rng.choice([0.0, 0.5, 1.0], 3)
        for min_margin in (0, 1, 2):
            _assert_same_best_pair(cs, p, min_margin, 1, trial)


def test_gated_matrix_equals_gate_row_by_row():
    """The vectorized evidence gate gives what alignx.directions.gate gives per comment, rows
    without evidence levels (null: every rating counts) included."""
    import polars as pl

    from alignx.directions import gate
    from stages.assemble.stage import gated_matrix

    rng = np.random.default_rng(3)
    ratings = [rng.integers(-2, 3, N).tolist() for _ in range(50)]
    evidence = [None if i % 7 == 0 else rng.integers(0, 3, N).tolist() for i in range(50)]
    df = pl.DataFrame({"ratings": ratings, "evidence": evidence},
                      schema={"ratings": pl.List(pl.Int8), "evidence": pl.List(pl.Int8)})
    want = np.stack([gate(r, e) for r, e in zip(ratings, evidence)])
    assert (gated_matrix(df) == want).all()
    assert gated_matrix(df.head(0)).shape == (0, N)


def test_seeded_hash_is_stable_hash():
    """ranked's hash writes the scope's JSON once; it must give stable_hash's digest exactly
    (ids and orders in every release depend on it), for any text."""
    from pipeline.io import stable_hash
    from stages.assemble.stage import seeded_hash

    keys = ["t1_abc", "", 'quote " and \\ backslash', "ünïcødé ✓ 😀", "tab\tnewline\n\x00", 7, None, 1.5, ["x"]]
    for scope in [(), (20250319,), (0, "target", "user_ü"), (3, "pair", 'u"q', "p_x"), (1.0, "s")]:
        h = seeded_hash(*scope)
        for k in keys:
            assert h(k) == stable_hash([*scope, k]), (scope, k)
