"""Stage assemble on real threads (six days of r/ethereum daily discussions, full reply
trees): pairs are siblings, prompts carry the parent, provenance names the prompt's parts,
train and test share nothing, and the release carries the community signals."""

from __future__ import annotations

import json

import polars as pl
import pytest

from conftest import DEMO_ARGS, DEMO_ENV, alignx, examples, release_of, split

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset


@pytest.fixture(scope="module")
def eth_build(tmp_path_factory, reddit_dir):
    """Threads of March 2-6, 2025; with the demo key and seed, March 3 and 4 are test."""
    d = tmp_path_factory.mktemp("eth") / "data"
    settings = [v for v in DEMO_ARGS[1::2] if not v.startswith("ingest_reddit.inputs=")]  # the demo's alignment files
    args = [x for v in settings for x in ("--set", v)]
    alignx("run", *args, "--set", f"ingest_reddit.inputs=[\"{reddit_dir / 'ethereum_daily'}\"]",
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
