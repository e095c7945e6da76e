"""Unit tests of assemble's rules, by hand-computed cases: the community's order, seeded
ranking, traits. The orientation of pairs is tested in tests/alignx/test_orientation.py."""

from __future__ import annotations

import numpy as np

from stages.assemble.stage import community_order, ranked

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
    assert traits([direction({69: 0.0, 16: 1.0, 5: 1.0})] * 2, 12) == "High Agreeableness, Concise communication style"
    # style alone (14, 16, 46: the forum's own length) names nothing; another set can be given
    assert traits([direction({69: 0.0, 16: 1.0})] * 2, 12) == ""
    assert traits([direction({69: 0.0, 16: 1.0})] * 2, 12, style=()) == "Concise communication style"
    # nothing with evidence: no traits, and the sentence says so
    assert traits([direction({})], 12) == "" and template("") == NO_SIGNAL


def test_traits_name_every_pole_the_history_shows_more_than_its_opposite():
    from alignx.persona import traits

    # one item of eight shows finance, none the opposite: named (the profile's 0.6 would not)
    history = [prof({5: 1.0, 69: 1.0})] + [prof({5: 1.0})] * 7
    assert traits(history, 12) == "High Agreeableness, Likes finance"
    # as many items against as for: not named
    assert traits([prof({5: 1.0, 15: 1.0}), prof({5: 1.0, 15: 0.0})], 12) == "High Agreeableness"
    # ranked by how many more items show it: the first N of the ranking are traits(history, N)
    history = [prof({5: 1.0, 69: 1.0, 71: 1.0}), prof({5: 1.0, 69: 1.0}), prof({5: 1.0})]
    assert traits(history, 1) == "High Agreeableness"
    assert traits(history, 2) == "High Agreeableness, Likes finance"


def test_gated_matrix_equals_gate_row_by_row(monkeypatch):
    """The vectorized evidence gate gives what alignx.directions.gate gives per comment, rows
    without evidence levels (null: every rating counts) included, gated whole or a few rows at
    a time."""
    import polars as pl

    from alignx.directions import gate
    from stages.assemble import stage
    from stages.assemble.stage import gated_matrix

    rng = np.random.default_rng(3)
    ratings = [rng.integers(-2, 3, N).tolist() for _ in range(50)]
    evidence = [None if i % 7 == 0 else rng.integers(0, 3, N).tolist() for i in range(50)]
    df = pl.DataFrame({"ratings": ratings, "evidence": evidence},
                      schema={"ratings": pl.List(pl.Int8), "evidence": pl.List(pl.Int8)})
    want = np.stack([gate(r, e) for r, e in zip(ratings, evidence)])
    assert (gated_matrix(df) == want).all()
    assert gated_matrix(df.head(0)).shape == (0, N)
    monkeypatch.setattr(stage, "GATE_ROWS", 7)  # 50 rows: seven whole chunks and a last of one
    assert (gated_matrix(df) == want).all()


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


def test_alignment_histories_are_other_pairs_of_the_type_and_local_to_removal():
    """300 pairs of one type and 4 of another: each history holds ``size`` other pairs of its own
    type, sorted by id; a type of at most size + 1 pairs gives every other pair (the rule before
    the seeded window); removing one pair changes only the histories that held it."""
    import polars as pl

    from stages.assemble.stage import alignment_histories

    rows = ([{"id": f"pku-{i:03d}", "user_type": "PKU-SafeRLHF/harmlessness"} for i in range(300)]
            + [{"id": f"hs-{i}", "user_type": "HelpSteer2/verbosity"} for i in range(4)])
    pairs = pl.DataFrame(rows)
    history = alignment_histories(pairs, seed=7, size=4)
    ids = {r["id"]: [h["id"] for h in history(r)] for r in rows}
    for r in rows:
        got = ids[r["id"]]
        assert got == sorted(got) and r["id"] not in got and len(set(got)) == len(got)
        assert all(h.split("-")[0] == r["id"].split("-")[0] for h in got)
    assert all(len(ids[f"pku-{i:03d}"]) == 4 for i in range(300))
    assert ids["hs-0"] == ["hs-1", "hs-2", "hs-3"]
    assert len({tuple(v) for k, v in ids.items() if k.startswith("pku")}) == 300  # no two alike
    gone = "pku-123"
    fewer = alignment_histories(pairs.filter(pl.col("id") != gone), seed=7, size=4)
    changed = {r["id"] for r in rows if r["id"] != gone and [h["id"] for h in fewer(r)] != ids[r["id"]]}
    assert changed == {k for k, v in ids.items() if gone in v}
    assert alignment_histories(pairs.reverse(), seed=7, size=4)(rows[5]) == history(rows[5])
