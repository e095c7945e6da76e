"""assemble.history_text = "paraphrase" (issue 20 item 6), end to end against the local
OpenAI-protocol server (tests/openai_server.py): UGC comments are rewritten by the model,
re-rated by the annotator, dropped below the survival threshold, cached and cost-capped; the
survival figure is in the manifest and the dataset card."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline.manifest import read_manifest
from stages.assemble.paraphrase import survival

from conftest import DEMO_ARGS, DEMO_ENV, alignx, release_of
from openai_server import OpenAIServer

PREFIX = "In other words, "  # what the test server's paraphrases start with


@pytest.fixture(scope="module")
def server():
    with OpenAIServer() as s:
        yield s


def llm_args(server: OpenAIServer, *extra: str) -> list[str]:
    args = ["--set", "assemble.history_text=paraphrase", "--set", f"annotate.base_url={server.url}",
            "--set", "annotate.model=test-model", "--set", "annotate.timeout_s=5.0"]
    return args + [x for e in extra for x in ("--set", e)]


@pytest.fixture(scope="module")
def built(built, server, tmp_path_factory):
    """The session's demo build, copied and rebuilt with the UGC comments paraphrased (the stages
    before annotate are up to date; annotate reruns from its cache)."""
    d = tmp_path_factory.mktemp("paraphrase") / "data"
    shutil.copytree(built[0], d, symlinks=True)
    alignx("run", *DEMO_ARGS, *llm_args(server), data_dir=d, env=DEMO_ENV)
    return d


def examples(d: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in sorted((d / "work" / "assemble").glob("out-*/examples/*.parquet"))])


def test_survival_counts_the_originals_non_neutral_dimensions():
    orig = [0.5] * 90
    orig[3], orig[7], orig[9] = 1.0, 0.0, 1.0
    rated = np.full(90, 0.5)
    rated[3], rated[7], rated[9], rated[20] = 1.0, 1.0, 0.5, 0.0
    assert survival(orig, rated) == pytest.approx(1 / 3)  # only d3 kept its direction; d20 is not counted
    assert survival([0.5] * 90, rated) == 1.0  # nothing to lose


@pytest.mark.e2e
def test_ugc_is_paraphrased_and_the_survival_figure_reported(built):
    d = built
    m = read_manifest(d, "assemble")
    c = m["counts"]
    assert c["paraphrase.comments"] > 0
    assert c["paraphrase.kept"] + c["paraphrase.dropped_low_survival"] + c["paraphrase.failed"] == c["paraphrase.comments"]
    assert c["paraphrase.kept"] > 0 and c["paraphrase.failed"] == 0
    assert 0 <= c["paraphrase.survival_mean"] <= 1
    ugc = [x for row in examples(d)["ugc"].to_list() for x in (row or [])]
    assert ugc and all(x["comment"].startswith(PREFIX) for x in ugc)  # no user's own words
    assert len({(x["prompt"], x["comment"]) for x in ugc}) <= c["paraphrase.kept"]
    card = (release_of(d) / "README.md").read_text()
    assert "paraphrased by an LLM" in card
    assert f"on average {c['paraphrase.survival_mean']:.2f} of the original's" in card
    assert "Observed: the users' own comments" not in card


@pytest.mark.e2e
def test_paraphrases_are_cached_and_the_threshold_drops(built, server):
    d = built
    before = server.chat_requests
    # every survival is <= 1: a threshold of 1 keeps only perfect paraphrases, the rest are dropped
    alignx("run", "assemble", "emit", *DEMO_ARGS, *llm_args(server, "assemble.paraphrase_min_survival=1.0"),
           data_dir=d, env=DEMO_ENV)
    assert server.chat_requests == before  # paraphrases and their ratings came from the caches
    m = read_manifest(d, "assemble")
    c = m["counts"]
    assert c["paraphrase.dropped_low_survival"] > 0
    ugc = [x for row in examples(d)["ugc"].to_list() for x in (row or [])]
    assert all(x["comment"].startswith(PREFIX) for x in ugc)


@pytest.mark.e2e
def test_paraphrase_cost_cap_stops_the_stage(built, server, tmp_path):
    d = built
    (d / "cache" / "paraphrases.sqlite").rename(tmp_path / "kept.sqlite")  # a cold cache: requests are needed
    try:
        proc = alignx("run", "assemble", *DEMO_ARGS,
                      *llm_args(server, "assemble.paraphrase_max_cost=0.0000001", "annotate.price_input_per_mtok=100"),
                      data_dir=d, env=DEMO_ENV, check=False)
        assert proc.returncode != 0
        assert "paraphrase cost limit reached" in proc.stderr
    finally:
        (tmp_path / "kept.sqlite").replace(d / "cache" / "paraphrases.sqlite")
