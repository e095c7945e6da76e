"""Stage cluster on the demo corpus and on the real 2005 dump: invariants that matter."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline.io import sha256_file

from conftest import DEMO_ENV, SAMPLE_REDDIT, alignx, copy_inputs

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset

ENV = DEMO_ENV  # the demo build's key: a copy of the session's build is up to date for ``build``


def build(data_dir: Path, inputs: list[Path], *sets: str) -> dict:
    raw = copy_inputs(inputs, data_dir / "raw" / "reddit")
    # relative to the data dir, so a copied data dir is up to date for the same inputs
    args = ["--set", f"ingest_reddit.inputs={raw.relative_to(data_dir)}", *(x for s in sets for x in ("--set", s))]
    alignx("run", "ingest_reddit", "anonymize", "annotate", "cluster", *args, data_dir=data_dir, env=ENV)
    return json.loads((data_dir / "work/cluster/_manifest.json").read_text())


def out(data_dir: Path) -> Path:
    return next((data_dir / "work/cluster").glob("out-*"))


@pytest.fixture(scope="module")
def demo(built):
    """The session's demo build (conftest), which ran ingest_reddit to cluster on the demo corpus
    with these inputs: (data dir, cluster's manifest). Read, never modify."""
    d = built[0]
    return d, json.loads((d / "work/cluster/_manifest.json").read_text())


def test_every_comment_has_a_topic_or_noise(demo):
    d, m = demo
    assign = pl.read_parquet(out(d) / "topics/assignments.parquet")
    assert assign.height == 342 == m["records_in"]
    assert assign["topic"].min() >= -1
    topics = pl.read_parquet(out(d) / "topics/topics.parquet")
    assert topics.height == m["counts"]["topics"] >= 2
    assert topics["size"].sum() == (assign["topic"] >= 0).sum()
    assert all(len(k) > 0 for k in topics["keywords"].to_list())


def test_topics_map_onto_the_interest_the_annotator_finds_in_them(demo):
    d, m = demo
    topics = pl.read_parquet(out(d) / "topics/topics.parquet")
    mapped = topics.filter(pl.col("interest_dimension").is_not_null())
    assert (mapped["evidence_share"] >= 0.25).all() and mapped["interest_label"].str.starts_with("Likes").all()
    assert (topics.filter(pl.col("interest_dimension").is_null())["evidence_share"] < 0.25).all()
    # the share is what the ratings say: recomputed from annotate's output for every mapped topic
    assign = pl.read_parquet(out(d) / "topics/assignments.parquet")
    ratings = pl.concat([pl.read_parquet(f) for f in sorted((d / "work/annotate").glob("out-*/ratings/*.parquet"))])
    rated = assign.join(ratings.filter(pl.col("status") == "ok"), on="id")
    for row in mapped.iter_rows(named=True):
        members = rated.filter(pl.col("topic") == row["topic"])
        dim = row["interest_dimension"]
        liked = sum(r[dim] > 0 and e[dim] > 0 for r, e in zip(members["ratings"], members["evidence"]))
        assert liked / members.height == pytest.approx(row["evidence_share"], abs=1e-4)
    report = (out(d) / "cluster_report.md").read_text()
    assert "candidate new dimension" in report or m["counts"]["topics_uncovered"] == 0


def test_archetypes_and_heatmap(demo):
    d, m = demo
    users = pl.read_parquet(out(d) / "archetypes/users.parquet")
    assert users["archetype"].min() >= -1 and users.height >= 30
    assert (users.filter(pl.col("n_comments") < 3)["archetype"] == -1).all()
    assert all(len(p) == 90 and set(p) <= {0.0, 0.5, 1.0} for p in users["profile"].to_list())
    png = (out(d) / "correlation/heatmap.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    corr = pl.read_parquet(out(d) / "correlation/matrix.parquet").to_numpy()
    assert corr.shape == (90, 90) and np.allclose(corr, corr.T, atol=1e-6) and np.allclose(np.diag(corr), 1)


def test_same_seed_same_assignment(demo, built_twice_at_once):
    d, _ = demo
    d2 = built_twice_at_once[0]  # the same corpus built again from scratch in another data dir (conftest)
    for name in ("topics/assignments.parquet", "topics/topics.parquet", "archetypes/users.parquet"):
        assert sha256_file(out(d) / name) == sha256_file(out(d2) / name)


def test_sampled_fit_assigns_the_rest(demo, tmp_path):
    d3 = tmp_path / "sampled"
    shutil.copytree(demo[0], d3)  # the same corpus already rated: only cluster reruns
    m = build(d3, sorted(SAMPLE_REDDIT.glob("*.zst")), "cluster.fit_sample=200")
    assign = pl.read_parquet(out(d3) / "topics/assignments.parquet")
    assert assign.height == 342 and assign["topic"].min() >= -1 and m["counts"]["topics"] >= 2


def test_real_2005_dump_gets_topics(tmp_path, reddit_dir):
    m = build(tmp_path, [reddit_dir / "RC_2005-12.zst"])
    assign = pl.read_parquet(out(tmp_path) / "topics/assignments.parquet")
    # 881 rated comments before near-duplicates were removed (issue 16)
    assert assign.height == m["records_in"] > 850 and m["counts"]["topics"] >= 2
