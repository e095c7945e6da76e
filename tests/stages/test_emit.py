"""Stage emit on the demo corpus: the release's files, schema, loaders, determinism, privacy and provenance."""

from __future__ import annotations

import json
import re
import shutil

import polars as pl
import pytest

from conftest import DEMO_ARGS, DEMO_ENV as ENV, ROOT, alignx, examples, split

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset


def test_release_files_and_alignx_field_names(built):
    d, release = built
    names = sorted(f.name for f in release.iterdir())
    assert names == ["README.md", "bias.json", "bias_directions.png", "bias_subreddits.png", "checksums.sha256",
                     "correlation_heatmap.png", "schema.json", "test-00000-of-00001.parquet",
                     "train-00000-of-00001.parquet"]
    train = split(release, "train")
    assert train.columns == ["id", "source", "persona_type", "prompt", "chosen", "rejected", "Preference Direction",
                             "Demographic Information", "User-Generated Content", "Pair-wise Comparative Feedback",
                             "score_ratio", "seconds_between", "length_ratio"]
    for line in (release / "checksums.sha256").read_text().splitlines():
        digest, name = line.split("  ")
        import hashlib

        assert hashlib.sha256((release / name).read_bytes()).hexdigest() == digest
    card = (release / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-nc-4.0") and "configs:" in card and "CC-BY-NC-4.0" in card
    assert "## Agreement with the community's order" in card and "Synthesized" in card
    # the published validity of the build's annotator, one row per dimension it rates
    validity = json.loads((ROOT / "annotators/resources/validity.json").read_text())["reference_test"]
    trust = card.split("## How far to trust each dimension", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in trust.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [int(r.split("|")[1]) for r in rows] == validity["dimensions_rated"]
    # the pair directions that compare raw measures (alignx/directions.py rule 3) say so, with their test figures
    assert "compare the two responses' raw measures" in trust and "| 46 Degree of concern" in trust
    assert "Never rated by this annotator: 0, 1," in trust


def test_rows_validate_against_the_json_schema(built):
    import jsonschema

    d, release = built
    schema = json.loads((release / "schema.json").read_text())
    for name in ("train", "test"):
        for row in split(release, name).iter_rows(named=True):
            jsonschema.validate(row, schema)


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


def test_same_inputs_same_bytes(built, built_twice_at_once):
    d, release = built
    _, again, _ = built_twice_at_once  # the same inputs built again in another data dir (conftest)
    assert (again / "checksums.sha256").read_text() == (release / "checksums.sha256").read_text()
    for f in release.glob("*.parquet"):
        assert (again / f.name).read_bytes() == f.read_bytes()


def test_provenance_of_a_released_example(built, tmp_path):
    src, release = built
    d = tmp_path / "data"
    shutil.copytree(src, d, symlinks=True)  # its own copy: the private folder is removed below
    row = split(release, "train").filter(pl.col("source") == "reddit").row(0, named=True)
    out = alignx("provenance", row["id"], data_dir=d, env=ENV).stdout
    assert f"{row['id']} in stage emit" in out and "sources:" in out
    assert re.search(r"private: real_id \w+, author \w+, RC_2024-03.zst line \d+", out)
    assert "annotator: embedding:all-MiniLM-L6-v2" in out
    assert re.search(r"emit v\d+ config [0-9a-f]{12}", out)
    shutil.rmtree(d / "private")
    out = alignx("provenance", row["id"], data_dir=d, env=ENV).stdout
    assert "private:" not in out and "real_id" not in out


def test_demo_release_shares_no_text_post_or_user_between_train_and_test(built):
    """Issue 16's leak checks on the demo release: no text, post, comment or user of a test
    example (target, UGC, PAIR) appears anywhere in train, history included; the manifest and
    the dataset card report zero overlap."""
    d, release = built
    train, test = examples(d, "train"), examples(d, "test")
    assert test.height > 0 and train.filter(pl.col("source") == "reddit").height > 0

    def texts(df):
        out = set(df["prompt"]) | set(df["chosen"]) | set(df["rejected"])
        for items in df["ugc"].to_list():
            out |= {t for it in items or [] for t in (it["prompt"], it["comment"])}
        for items in df["pair"].to_list():
            out |= {t for it in items or [] for t in (it["prompt"], it["chosen"], it["rejected"])}
        return out

    def ids(df):
        return {i for r in df.iter_rows(named=True)
                for i in [r["post_id"], *r["source_ids"], *r["prompt_ids"], *r["thread_ids"]]}

    assert not texts(train) & texts(test)
    assert not ids(train) & ids(test)
    assert not set(test["user"]) & set(train["user"])
    m = json.loads((d / "work/assemble/_manifest.json").read_text())
    assert (m["counts"]["leak.texts"], m["counts"]["leak.ids"], m["counts"]["leak.users"]) == (0, 0, 0)
    card = (release / "README.md").read_text()
    assert "| texts (prompts, responses, persona items) | 0 |" in card and "| users | 0 |" in card
    # the released rows too: no prompt or response of test is a train text
    rtrain, rtest = split(release, "train"), split(release, "test")
    released = lambda df: set(df["prompt"]) | set(df["chosen"]) | set(df["rejected"])  # noqa: E731
    assert not released(rtrain) & released(rtest)


# -- emit reads assemble's examples batch by batch: the same release as all at once --------------
def emit_into(data_dir, out_dir, *sets: str):
    """Emit's run on the built ``data_dir`` (read, not written) into ``out_dir``, in this
    process (so a test can lower ``BATCH_ROWS``); the release folder it wrote."""
    from pipeline.config import load_config
    from pipeline.runner import Runner
    from pipeline.stage import Shard
    from stages.emit.stage import Emit

    demo_sets = [a for a in DEMO_ARGS if a != "--set"]
    stage = Emit()
    runner = Runner([stage], load_config(overrides=[*demo_sets, *sets]), data_dir, workers=1, show_progress=False)
    stage.run_shard(runner.context(stage, []), Shard("all"), out_dir)
    return out_dir / "release"


def same_files(a, b) -> list[str]:
    """The names of the files of folder ``a``, after checking folder ``b`` has the same ones, byte for byte."""
    names = sorted(f.name for f in a.iterdir())
    assert names == sorted(f.name for f in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    return names


def test_the_release_is_the_same_bytes_whatever_the_batch_size(built, tmp_path, monkeypatch):
    """Batches of 7 rows with shards of 10 (shards straddle batches, batches straddle shards)
    give the bytes of one batch per split; and the default batch gives the built release."""
    import stages.emit.stage as emit

    d, release = built
    same_files(emit_into(d, tmp_path / "default"), release)
    cut = emit_into(d, tmp_path / "cut", "emit.shard_rows=10")
    monkeypatch.setattr(emit, "BATCH_ROWS", 7)
    names = same_files(emit_into(d, tmp_path / "tiny", "emit.shard_rows=10"), cut)
    assert sum(n.startswith("train-") for n in names) > 1 and sum(n.startswith("test-") for n in names) > 1
    # the shards of 10 are the release's rows in its order
    for name in ("train", "test"):
        assert split(cut, name).equals(split(release, name))


def test_the_card_figures_counted_in_batches_are_those_of_the_whole_split(built):
    from collections import Counter

    import numpy as np

    from stages.emit.summary import DIRECTION_VALUES, SplitSummary, release_texts

    d, release = built
    for name in ("train", "test"):
        whole = split(release, name)
        summary = SplitSummary()
        for batch in whole.iter_slices(7):
            summary.add(batch)
        assert (summary.rows, summary.targets) == (whole.height, whole.filter(pl.col("persona_type") == "all").height)
        assert summary.sources == Counter(whole["source"].to_list())
        assert summary.ugc_items == whole["User-Generated Content"].list.len().sum() > 0
        assert summary.pair_items == whole["Pair-wise Comparative Feedback"].list.len().sum()
        assert summary.with_demographic == (whole["Demographic Information"] != "").sum()
        dirs = np.array(whole["Preference Direction"].to_list())
        assert (summary.directions == np.stack([(dirs == v).sum(axis=0) for v in DIRECTION_VALUES])).all()
        assert len(summary.texts) == len(release_texts(whole)) > 0


def test_the_bias_report_counted_in_batches_is_that_of_the_whole_split(built):
    """Against the report computed plainly from every target of the split at once."""
    import numpy as np

    from alignx.taxonomy import load_taxonomy
    from stages.emit.bias import DEMOGRAPHIC_GROUP, SplitBias, gini, history_profile, user_poles

    d, release = built
    archetypes = next((d / "work/cluster").glob("out-*/archetypes/users.parquet"))
    profiles = pl.read_parquet(archetypes)
    dims = load_taxonomy().group(DEMOGRAPHIC_GROUP)

    def shares(rows: np.ndarray) -> dict:
        n = max(len(rows), 1)
        return {x.description: {"label_1": x.label_1, "label_0": x.label_0,
                                **{f"share_{k}": round(float((rows[:, x.index] == v).sum() / n), 4)
                                   for k, v in (("1", 1.0), ("0", 0.0), ("neutral", 0.5))}}
                for x in dims}

    for name in ("train", "test"):
        df = examples(d, name)
        bias = SplitBias()
        for batch in df.iter_slices(7):
            bias.add(batch)
        report = bias.report(*user_poles(archetypes, bias.per_user, 5))  # the users' profiles 5 at a time
        targets = df.filter(pl.col("persona_type") == "all")
        reddit = targets.filter(pl.col("source") == "reddit")
        assert reddit.height > 0
        users = profiles.filter(pl.col("author").is_in(reddit["user"].unique().implode()))
        subs = reddit.group_by("subreddit").len().sort(["len", "subreddit"], descending=[True, False])
        per_user = reddit.group_by("user").len()["len"].to_numpy()
        assert report == {
            "examples": targets.height,
            "sources": {k: round(v / targets.height, 4) for k, v in sorted(targets.group_by("user_type").len().rows())},
            "users": reddit["user"].n_unique(),
            "demographics_over_users": shares(np.array(users["profile"].to_list()).reshape(-1, 90)),
            "demographics_over_examples": shares(np.array([history_profile(r) for r in reddit.iter_rows(named=True)])),
            "subreddits": subs.height,
            "top10_subreddit_share": round(float(subs["len"][:10].sum() / reddit.height), 4),
            "subreddit_gini": round(gini(subs["len"].to_numpy()), 4),
            "top_subreddits": [[s, int(n)] for s, n in subs.head(10).rows()],
            "examples_per_user_mean": round(float(per_user.mean()), 3),
            "examples_per_user_max": int(per_user.max()),
            "user_gini": round(gini(per_user), 4),
        }
