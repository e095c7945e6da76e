"""Stages assemble and emit on the demo corpus: the release's schema, splits, personas,
determinism, privacy and provenance."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from pipeline.taxonomy import profile, render_profile

from conftest import SAMPLE_REDDIT, alignx, copy_inputs

ENV = {"ALIGNX_PSEUDONYM_KEY": "release-test-key-" + "r" * 40}


def build(data_dir: Path) -> Path:
    copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), data_dir / "raw" / "reddit")
    # a path relative to the data dir: two data dirs then share one configuration
    alignx("run", "--set", "reddit.inputs=raw/reddit", "--set",
           f"alignment.pku_inputs={SAMPLE_REDDIT.parent / 'alignment' / 'pku_saferlhf.jsonl'}",
           "--set", f"alignment.ultrafeedback_inputs={SAMPLE_REDDIT.parent / 'alignment' / 'ultrafeedback.jsonl'}",
           "--set", f"alignment.helpsteer2_inputs={SAMPLE_REDDIT.parent / 'alignment' / 'helpsteer2.jsonl'}",
           "--set", "assemble.alignment_share=0.1", data_dir=data_dir, env=ENV)
    return data_dir / "release" / "0.1.0"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("release") / "data"
    return d, build(d)


def split(release: Path, name: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in sorted(release.glob(f"{name}-*.parquet"))])


def examples(data_dir: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(next((data_dir / "work/assemble").glob(f"out-*/examples/{name}.parquet")))


def test_release_files_and_alignx_field_names(built):
    d, release = built
    names = sorted(f.name for f in release.iterdir())
    assert names == ["README.md", "bias.json", "bias_directions.png", "bias_subreddits.png", "checksums.sha256",
                     "correlation_heatmap.png", "schema.json", "test-00000-of-00001.parquet",
                     "train-00000-of-00001.parquet"]
    train = split(release, "train")
    assert train.columns == ["id", "source", "persona_type", "prompt", "chosen", "rejected", "Preference Direction",
                             "Demographic Information", "User-Generated Content", "Pair-wise Comparative Feedback"]
    for line in (release / "checksums.sha256").read_text().splitlines():
        digest, name = line.split("  ")
        import hashlib

        assert hashlib.sha256((release / name).read_bytes()).hexdigest() == digest
    card = (release / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-nc-4.0") and "configs:" in card and "CC-BY-NC-4.0" in card
    assert "## Agreement with the community's order" in card and "Synthesized" in card


def test_rows_validate_against_the_json_schema(built):
    import jsonschema

    d, release = built
    schema = json.loads((release / "schema.json").read_text())
    for name in ("train", "test"):
        for row in split(release, name).iter_rows(named=True):
            jsonschema.validate(row, schema)


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
    for r in df.iter_rows(named=True):
        history = [x["Preference Direction"] for x in r["ugc"] + r["pair"]]
        expected = render_profile(profile(np.array(history)))
        assert r["demographic"] == f"Based on this user's history, they can be described as: {expected}."


def test_counts_match_the_manifest(built):
    d, release = built
    m = json.loads((d / "work/assemble/_manifest.json").read_text())
    e = json.loads((d / "work/emit/_manifest.json").read_text())
    assert split(release, "train").height == m["counts"]["train"] == e["counts"]["train"]
    assert split(release, "test").height == m["counts"]["test"] == e["counts"]["test"]
    train = split(release, "train")
    assert (train["source"] != "reddit").sum() == m["counts"]["alignment_examples"] > 0


def test_loads_in_datasets_polars_and_pandas(built):
    import datasets
    import pandas as pd

    d, release = built
    files = {"train": sorted(str(f) for f in release.glob("train-*.parquet")),
             "test": sorted(str(f) for f in release.glob("test-*.parquet"))}
    ds = datasets.load_dataset("parquet", data_files=files, cache_dir=str(d.parent / "hf-cache"))
    assert ds["train"].num_rows == split(release, "train").height
    assert len(ds["train"][0]["Preference Direction"]) == 90
    assert set(ds["test"].column_names) >= {"User-Generated Content", "Pair-wise Comparative Feedback"}
    frame = pd.read_parquet(files["train"][0])
    assert len(frame) == ds["train"].num_rows
    assert pl.read_parquet(files["test"][0]).height == ds["test"].num_rows


def test_release_passes_the_privacy_audit(built):
    d, release = built
    proc = alignx("audit-privacy", data_dir=d, env=ENV)
    assert "passed: no findings" in proc.stdout and str(release) in proc.stdout


def test_same_inputs_same_bytes(built, tmp_path):
    d, release = built
    again = build(tmp_path / "again")
    assert (again / "checksums.sha256").read_text() == (release / "checksums.sha256").read_text()
    for f in release.glob("*.parquet"):
        assert (again / f.name).read_bytes() == f.read_bytes()


def test_provenance_of_a_released_example(built):
    d, release = built
    row = split(release, "train").filter(pl.col("source") == "reddit").row(0, named=True)
    out = alignx("provenance", row["id"], data_dir=d, env=ENV).stdout
    assert f"{row['id']} in stage emit" in out and "sources:" in out
    assert re.search(r"private: real_id \w+, author \w+, RC_2024-03.zst line \d+", out)
    assert "annotator: embedding:all-MiniLM-L6-v2" in out
    assert re.search(r"emit v\d+ config [0-9a-f]{12}", out)
    shutil.rmtree(d / "private")
    out = alignx("provenance", row["id"], data_dir=d, env=ENV).stdout
    assert "private:" not in out and "real_id" not in out


def test_llm_demographic_is_cached_scrubbed_and_history_only(tmp_path):
    from openai_server import OpenAIServer

    d = tmp_path / "data"
    copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), d / "raw" / "reddit")
    copy_inputs(sorted((SAMPLE_REDDIT.parent / "alignment").glob("*.jsonl")), d / "sample" / "alignment")
    with OpenAIServer() as server:
        args = ["--set", "reddit.inputs=raw/reddit", "--set", "assemble.demographic=llm",
                "--set", f"annotate.base_url={server.url}", "--set", "annotate.model=test-model"]
        alignx("run", *args, data_dir=d, env={**ENV, "OPENAI_API_KEY": "sk-test"})
        asked = server.chat_requests
        assert asked > 0
        alignx("run", "assemble", "emit", "--force", *args, data_dir=d, env={**ENV, "OPENAI_API_KEY": "sk-test"})
        assert server.chat_requests == asked  # every description came from the cache
    train = examples(d, "train").filter(pl.col("source") == "reddit")
    for r in train.iter_rows(named=True):
        history = [x["Preference Direction"] for x in r["ugc"] + r["pair"]]
        labels = render_profile(profile(np.array(history)))
        # written from the history's labels, never the target's direction
        assert r["demographic"] == f"This user comes across as {labels.lower()}. Reach them at someone@example.com."
    released = split(d / "release" / "0.1.0", "train")["Demographic Information"].to_list()
    assert all("example.com" not in t for t in released) and any("[email]" in t for t in released)
    assert "passed: no findings" in alignx("audit-privacy", data_dir=d, env=ENV).stdout
