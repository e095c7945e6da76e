"""Stage assemble on the demo corpus: splits, personas, history, Demographic Information."""

from __future__ import annotations

import shutil

import numpy as np
import polars as pl
import pytest

from alignx.persona import traits
from stages.assemble.demographic import NO_SIGNAL

from conftest import DEMO_ARGS, DEMO_ENV as ENV, alignx, examples, release_of, split

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset


def test_directions_and_history_sizes(built):
    d, release = built
    for name in ("train", "test"):
        df = split(release, name)
        for col in ("Preference Direction",):
            assert all(len(v) == 90 and set(v) <= {0.0, 0.5, 1.0} for v in df[col].to_list())
        assert (df["User-Generated Content"].list.len() <= 4).all()
        assert (df["Pair-wise Comparative Feedback"].list.len() <= 4).all()


def test_history_never_touches_the_target_post(built):
    d, _ = built
    threads = pl.concat([pl.read_parquet(f, columns=["id", "link_id"])
                         for f in (d / "work/anonymize").glob("out-*/threads/*.parquet")])
    post_of = dict(threads.iter_rows())
    df = examples(d, "train").filter(pl.col("source") == "reddit")
    assert df.height > 10
    for r in df.iter_rows(named=True):
        history_ids = r["source_ids"][3:]
        assert history_ids and all(post_of[c] != r["post_id"] for c in history_ids)
        assert post_of[r["source_ids"][1]] == post_of[r["source_ids"][2]] == r["post_id"]


def test_splits_disjoint_by_user_and_post(built):
    d, _ = built
    train = examples(d, "train").filter(pl.col("source") == "reddit")
    test = examples(d, "test")
    assert test.height > 0 and test.height % 4 == 0
    assert set(train["user"]).isdisjoint(set(test["user"]))
    assert set(train["post_id"]).isdisjoint(set(test["post_id"]))
    personas = test.group_by("persona_type").len().sort("persona_type")
    assert personas["persona_type"].to_list() == ["all", "demo", "pair", "ugc"]
    assert personas["len"].n_unique() == 1
    demo_only = test.filter(pl.col("persona_type") == "demo")
    assert (demo_only["ugc"].list.len() == 0).all() and (demo_only["pair"].list.len() == 0).all()


def test_demographic_comes_from_history_only(built):
    d, _ = built
    df = examples(d, "train").filter(pl.col("source") == "reddit")
    counts = []
    for r in df.iter_rows(named=True):
        history = [x["Preference Direction"] for x in r["ugc"] + r["pair"]]
        expected = traits(history, 12)
        assert r["demographic"] == (f"Based on this user's history, they can be described as: {expected}."
                                    if expected else NO_SIGNAL)
        counts.append(len(expected.split(", ")) if expected else 0)
    assert max(counts) <= 12 and np.median(counts) >= 1  # few traits, and most personas say something


def test_llm_demographic_is_cached_scrubbed_and_history_only(tmp_path, built):
    from openai_server import OpenAIServer

    d = tmp_path / "data"
    shutil.copytree(built[0], d, symlinks=True)  # the session's demo build: the stages before annotate stay
    with OpenAIServer() as server:
        args = [*DEMO_ARGS, "--set", "assemble.demographic=llm",
                "--set", f"annotate.base_url={server.url}", "--set", "annotate.model=test-model"]
        # up to the release (emit and the stages before it it finds stale): evaluate's report is not looked at
        alignx("run", "emit", *args, data_dir=d, env={**ENV, "OPENAI_API_KEY": "sk-test"})
        asked = server.chat_requests
        assert asked > 0
        alignx("run", "assemble", "emit", "--force", *args, data_dir=d, env={**ENV, "OPENAI_API_KEY": "sk-test"})
        assert server.chat_requests == asked  # every description came from the cache
    train = examples(d, "train").filter(pl.col("source") == "reddit")
    for r in train.iter_rows(named=True):
        history = [x["Preference Direction"] for x in r["ugc"] + r["pair"]]
        labels = traits(history, 12)
        # written from the history's labels, never the target's direction
        assert r["demographic"] == (f"This user comes across as {labels.lower()}. Reach them at someone@example.com."
                                    if labels else NO_SIGNAL)
    released = split(release_of(d), "train")["Demographic Information"].to_list()
    assert all("example.com" not in t for t in released) and any("[email]" in t for t in released)
    assert "passed: no findings" in alignx("audit-privacy", data_dir=d, env=ENV).stdout
