"""Stage assemble on real threads (six days of r/ethereum daily discussions, full reply
trees): pairs are siblings, prompts carry the parent, provenance names the prompt's parts,
train and test share nothing, and the release carries the community signals; no pair of two
top-level comments of a daily thread, every target rests on a dimension beyond style, and
neither length nor one description explains the release."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from alignx.directions import MEASURES

from conftest import DEMO_ARGS, DEMO_ENV, alignx, examples, release_of, split

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset


@pytest.fixture(scope="module")
def eth_build(tmp_path_factory, reddit_dir):
    """Threads of March 2-6, 2025; with the demo key and seed, March 3 and 4 are test. Built up to
    the release (`alignx run emit` runs every stage before it): no test here reads evaluate's report."""
    d = tmp_path_factory.mktemp("eth") / "data"
    settings = [v for v in DEMO_ARGS[1::2] if not v.startswith("ingest_reddit.inputs=")]  # the demo's alignment files
    args = [x for v in settings for x in ("--set", v)]
    alignx("run", "emit", *args, "--set", f"ingest_reddit.inputs=[\"{reddit_dir / 'ethereum_daily'}\"]",
           "--set", "ingest_reddit.date_from=2025-03-01", "--set", "ingest_reddit.date_to=2025-03-07",
           data_dir=d, env=DEMO_ENV)
    threads = pl.concat([pl.read_parquet(f) for f in (d / "work/anonymize").glob("out-*/threads/*.parquet")])
    return d, release_of(d), threads


def test_pairs_are_siblings_and_prompts_carry_the_parent(eth_build):
    d, _, threads = eth_build
    by_id = {r["id"]: r for r in threads.iter_rows(named=True)}
    df = pl.concat([examples(d, "train"), examples(d, "test")], how="diagonal_relaxed").filter(
        pl.col("source") == "reddit")
    assert df.height >= 10
    replies = 0
    for r in df.iter_rows(named=True):
        chosen, rejected = by_id[r["source_ids"][1]], by_id[r["source_ids"][2]]
        assert chosen["parent_id"] == rejected["parent_id"]  # responses to the same text
        assert chosen["link_id"] == rejected["link_id"] == r["post_id"]
        assert r["prompt"] == chosen["prompt"] == rejected["prompt"]
        assert r["prompt_ids"][0] == r["post_id"]
        if not chosen["is_top_level"]:
            replies += 1
            parent = by_id[chosen["parent_id"]]
            assert r["prompt_ids"][-1] == parent["id"]
            assert r["prompt"].endswith("\n--- comment in the thread ---\n" + parent["body"])
        # history never touches the target's thread
        history = [by_id[i] for i in r["source_ids"][3:]]
        assert all(h["link_id"] != r["post_id"] for h in history)
    assert replies > 0


def test_train_and_test_share_no_text_post_or_user(eth_build):
    d, release, threads = eth_build
    train, test = examples(d, "train"), examples(d, "test")
    assert test.height > 0 and train.filter(pl.col("source") == "reddit").height > 0
    author = dict(threads.select("id", "author").iter_rows())

    def texts(df):
        out = set(df["prompt"]) | set(df["chosen"]) | set(df["rejected"])
        for items in df["ugc"].to_list():
            out |= {t for it in items for t in (it["prompt"], it["comment"])}
        for items in df["pair"].to_list():
            out |= {t for it in items for t in (it["prompt"], it["chosen"], it["rejected"])}
        return out

    def ids(df):
        return {i for r in df.iter_rows(named=True) for i in [r["post_id"], *r["source_ids"], *r["prompt_ids"],
                                                              *r["thread_ids"]]}

    assert not texts(train) & texts(test)
    assert not ids(train) & ids(test)
    test_users = set(test["user"])
    assert not test_users & set(train["user"])
    # no comment a test user wrote is used in train
    assert not {author.get(i) for r in train.iter_rows(named=True) for i in r["source_ids"]} & test_users
    m = json.loads((d / "work/assemble/_manifest.json").read_text())
    assert (m["counts"]["leak.texts"], m["counts"]["leak.ids"], m["counts"]["leak.users"]) == (0, 0, 0)
    card = (release / "README.md").read_text()
    assert "| texts (prompts, responses, persona items) | 0 |" in card and "| users | 0 |" in card
    rtrain, rtest = split(release, "train"), split(release, "test")
    assert not set(rtrain["chosen"]) & set(rtest["chosen"]) and not set(rtrain["prompt"]) & set(rtest["prompt"])


def test_release_carries_the_community_signals(eth_build):
    d, release, threads = eth_build
    by_id = {r["id"]: r for r in threads.iter_rows(named=True)}
    train = split(release, "train")
    assert train.columns[-3:] == ["score_ratio", "seconds_between", "length_ratio"]
    assembled = {r["id"]: r for r in examples(d, "train").iter_rows(named=True)}
    checked = 0
    for r in train.filter(pl.col("source") == "reddit").iter_rows(named=True):
        a = assembled[r["id"]]
        chosen, rejected = by_id[a["source_ids"][1]], by_id[a["source_ids"][2]]
        assert r["seconds_between"] == chosen["created_utc"] - rejected["created_utc"]
        assert r["length_ratio"] == pytest.approx(len(chosen["body"]) / len(rejected["body"]))
        if chosen["score"] >= 1 and rejected["score"] >= 1:
            assert r["score_ratio"] == pytest.approx(chosen["score"] / rejected["score"])
            checked += 1
    assert checked > 0
    assert train.filter(pl.col("source") != "reddit")["seconds_between"].is_null().all()


def reddit_targets(d) -> pl.DataFrame:
    """The build's Reddit targets, each once (test: its all-signals row)."""
    return pl.concat([examples(d, "train"), examples(d, "test").filter(pl.col("persona_type") == "all")],
                     how="diagonal_relaxed").filter(pl.col("source") == "reddit")


def test_no_pair_of_top_level_comments_under_a_daily_thread(eth_build):
    """Daily discussions are a series (their title recurs with another date; their body is a
    template): their top-level comments answer nothing in common, so neither a target nor a
    Pair-wise Comparative Feedback item pairs two of them; replies to one comment are paired."""
    d, _, threads = eth_build
    assert threads["recurring_post"].all()  # six daily threads: every post is one of the series
    by_id = {r["id"]: r for r in threads.iter_rows(named=True)}
    df = reddit_targets(d)
    assert df.height >= 10
    pair_items = 0
    for r in df.iter_rows(named=True):
        chosen, rejected = by_id[r["source_ids"][1]], by_id[r["source_ids"][2]]
        assert not chosen["is_top_level"] and not rejected["is_top_level"]
        assert chosen["parent_id"] == rejected["parent_id"]
        pairs = r["source_ids"][3 + len(r["ugc"]):]
        for a, b in zip(pairs[::2], pairs[1::2]):
            assert by_id[a]["parent_id"] == by_id[b]["parent_id"] and not by_id[a]["is_top_level"]
            pair_items += 1
    assert pair_items > 0
    top = threads.filter(pl.col("is_top_level"))
    m = json.loads((d / "work/assemble/_manifest.json").read_text())["counts"]
    assert 0 < m["groups.templated_top_level"] <= top["link_id"].n_unique() == 6
    assert 2 * m["groups.templated_top_level"] <= m["comments.templated_top_level"] <= top.height


def test_every_target_rests_on_a_dimension_beyond_style(eth_build):
    """Recomputed from the stage's inputs: the user's profile (their own rated comments in other
    threads of their split), the pair's direction (ratings and raw measures): the margin without
    the style dimensions 14, 16 and 46 is at least 1 for every target, and the whole margin is the
    one assemble recorded."""
    from alignx.directions import gate, single_direction
    from alignx.orientation import direction, margins
    from alignx.taxonomy import profile
    from stages.assemble.pairs import split_hash

    d, _, threads = eth_build
    ratings = pl.concat([pl.read_parquet(f) for f in (d / "work/annotate").glob("out-*/ratings/*.parquet")]
                        ).filter(pl.col("status") == "ok")
    rated = {r["id"]: {**r, "ratings": gate(r["ratings"], r["evidence"]),
                       "measures": np.array([r["measures"][k] for k in MEASURES], dtype=np.float64)}
             for r in ratings.iter_rows(named=True)}
    by_author: dict[str, list] = {}
    for r in threads.filter(pl.col("id").is_in(list(rated))).iter_rows(named=True):
        by_author.setdefault(r["author"], []).append(r)
    defaults = tomllib.loads((Path(__file__).parents[2] / "configs" / "default.toml").read_text())
    seed, thread_share = defaults["run"]["seed"], defaults["assemble"]["test_thread_share"]  # as the build ran
    df = reddit_targets(d)
    for r in df.iter_rows(named=True):
        chosen, rejected = rated[r["source_ids"][1]], rated[r["source_ids"][2]]
        side = split_hash(seed, "thread", r["post_id"]) < thread_share
        own = [c for c in by_author[r["user"]] if c["link_id"] != r["post_id"]
               and (split_hash(seed, "thread", c["link_id"]) < thread_share) == side]
        prof = profile(np.stack([single_direction(rated[c["id"]]["ratings"]) for c in own]))
        dirn = direction(chosen, rejected, 1)[None, :]
        assert margins(dirn, prof[None, :], (14, 16, 46))[0] == r["content_margin"] >= 1, r["id"]
        assert margins(dirn, prof[None, :])[0] == r["margin"] >= 1


def test_release_is_not_explained_by_length_or_one_persona(eth_build):
    """The released Reddit rows: in each split the chosen response is the shorter in at most 65%
    and the longer in at most 65% of rows; no Demographic Information covers more than 5% of the
    targets (or 5 rows, in a release this small); what was dropped for it is in the manifest."""
    d, release, _ = eth_build
    m = json.loads((d / "work/assemble/_manifest.json").read_text())
    for name in ("train", "test"):
        df = split(release, name).filter(pl.col("source") == "reddit")
        if name == "test":
            df = df.filter(pl.col("persona_type") == "all")
        assert df.height > 0
        shorter = sum(len(c) < len(r) for c, r in zip(df["chosen"], df["rejected"])) / df.height
        longer = sum(len(c) > len(r) for c, r in zip(df["chosen"], df["rejected"])) / df.height
        assert shorter <= 0.65 and longer <= 0.65, (name, shorter, longer)
        assert m["counts"][f"length.{name}.chosen_shorter_share"] == round(shorter, 4)
        c = m["counts"]
        assert c[f"length_balance.{name}.rows"] >= df.height
    targets = reddit_targets(d)
    top = targets.group_by("demographic").len()["len"].max()
    assert top <= max(0.05 * targets.height, 5)
    assert m["dropped"].get("length_balance", 0) == sum(m["counts"][f"length_balance.{n}.dropped"] for n in ("train", "test"))


def test_length_balance_drops_the_excess_of_the_majority_side_only(eth_build):
    """The balancing step's contract, on real comments paired at random with the shorter chosen in
    80% of rows: the share falls to the bound and no further, the minority side and the equal
    rows are all kept, the choice is the seed's (same seed, same rows; another, others), and a
    bound of 1 keeps everything."""
    from stages.assemble.pairs import length_balance, length_sides

    _, _, threads = eth_build
    bodies = threads.filter(pl.col("body").str.len_chars() > 0).sort("id")["body"].to_list()[:400]
    rows = []
    for i in range(0, len(bodies) - 1, 2):
        short, long_ = sorted(bodies[i:i + 2], key=len)
        chosen, rejected = (short, long_) if (i // 2) % 5 else (long_, short)  # 4 in 5 chosen shorter
        rows.append({"id": f"r{i}", "chosen": chosen, "rejected": rejected})
    df = pl.DataFrame(rows)
    sides = length_sides(df)
    assert (sides < 0).mean() > 0.7
    kept, report = length_balance(df, 0.65, 7, "train")
    kept_sides = length_sides(kept)
    assert (kept_sides < 0).mean() <= 0.65 < ((kept_sides < 0).sum() + 1) / (kept.height + 1)  # no more than needed
    assert report == {"rows": df.height, "shorter": int((sides < 0).sum()), "longer": int((sides > 0).sum()),
                      "dropped": df.height - kept.height}
    assert set(df.filter(pl.Series(sides >= 0))["id"]) <= set(kept["id"])  # the other side and equal rows stay
    assert length_balance(df, 0.65, 7, "train")[0].equals(kept)
    assert set(length_balance(df, 0.65, 8, "train")[0]["id"]) != set(kept["id"])
    assert length_balance(df, 1.0, 7, "train")[0].equals(df)


def test_common_descriptions_are_capped_in_a_seeded_order(eth_build):
    """``common_rows`` on the build's real descriptions, each repeated 12 times, capped at half the
    commonest's share: no description keeps more than the cap of the rows left (or 5), those under
    it lose nothing, every description keeps rows, and the seed decides which."""
    from stages.assemble.demographic import MIN_COMMON_ROWS, common_rows

    d, _, _ = eth_build
    df = reddit_targets(d).select("id", "demographic")
    big = pl.concat([df.with_columns(pl.col("id") + f"-{k}") for k in range(12)])
    before = dict(big.group_by("demographic").len().iter_rows())
    share = max(before.values()) / big.height / 2
    gone = common_rows(big, share, 3)
    assert gone
    left = big.filter(~pl.col("id").is_in(sorted(gone)))
    after = dict(left.group_by("demographic").len().iter_rows())
    cap = max(share * left.height, MIN_COMMON_ROWS)
    assert max(after.values()) <= cap and after.keys() == before.keys()
    assert all(after[t] == n for t, n in before.items() if n <= int(cap))
    assert common_rows(big, share, 3) == gone and common_rows(big, share, 4) != gone
    assert common_rows(big, 1.0, 3) == set()


def test_a_benchmark_prompt_found_in_the_corpus_is_caught(eth_build, shared_data, tmp_path):
    """P-SOUPS with one prompt replaced by a real comment of the build (as if the benchmark had
    been written from Reddit): the examples using that comment are dropped, the n-gram recorded."""
    from stages.assemble.decontaminate import benchmark_ngrams, contamination, ngrams

    d, _, threads = eth_build
    train = examples(d, "train").filter(pl.col("source") == "reddit")
    planted = max(train["chosen"].to_list(), key=len)
    assert len(ngrams(planted, 12)) > 0
    bench = json.loads((shared_data / "benchmarks" / "p-soups_student_phd.json").read_text())
    bench[7]["prompt"] = planted
    path = tmp_path / "p-soups-planted.json"
    path.write_text(json.dumps(bench))
    # the real benchmark alone matches nothing of the build; the planted one does
    clean = benchmark_ngrams([shared_data / "benchmarks" / "p-soups_student_phd.json"], 12)
    assert contamination({planted}, clean, 12) is None
    assert contamination({planted}, benchmark_ngrams([path], 12), 12)[1] in ngrams(planted, 12)
    args = [x for v in DEMO_ARGS[1::2] if not v.startswith("ingest_reddit.inputs=") for x in ("--set", v)]
    alignx("run", "assemble", *args, "--set", f"ingest_reddit.inputs=[\"{shared_data / 'reddit' / 'ethereum_daily'}\"]",
           "--set", "ingest_reddit.date_from=2025-03-01", "--set", "ingest_reddit.date_to=2025-03-07",
           "--set", f"decontaminate.benchmarks=[\"{path}\"]", data_dir=d, env=DEMO_ENV)
    m = json.loads((d / "work/assemble/_manifest.json").read_text())
    assert m["dropped"]["contaminated"] >= 1
    matches = pl.read_parquet(next((d / "work/assemble").glob("out-*/decontamination/reddit.parquet")))
    assert matches.height >= 1 and set(matches["benchmark"]) == {path.name}
    assert all(g in ngrams(planted, 12) for g in matches["ngram"])
    after = examples(d, "train")
    assert planted not in set(after["chosen"]) | set(after["rejected"])
