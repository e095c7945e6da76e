"""Stage ingest_alignment on the real PKU-SafeRLHF rows (../shared/data/alignment) and on the
demo samples in data/sample/alignment (UltraFeedback and HelpSteer2 in their schemas).

Expected pairs were worked out by hand from the files (see the comments)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from alignx.taxonomy import load_taxonomy

from conftest import ROOT, alignx

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset

SAMPLE = ROOT / "data" / "sample" / "alignment"
HARMLESSNESS = load_taxonomy().find("harmlessness").index
VERBOSITY = load_taxonomy().find("Concise communication style").index


def run(data_dir: Path, *sets: str, pku=None, uf=None, hs2=None, check=True):
    args = ["run", "ingest_alignment", "--set", "ingest_reddit.inputs=[]"]
    for key, value in (("pku", pku), ("ultrafeedback", uf), ("helpsteer2", hs2)):
        args += ["--set", f"ingest_alignment.{key}_inputs={json.dumps([str(value)] if value else [])}"]
    for s in sets:
        args += ["--set", s]
    return alignx(*args, data_dir=data_dir, check=check)


def manifest(data_dir: Path) -> dict:
    return json.loads((data_dir / "work/ingest_alignment/_manifest.json").read_text())


def pairs(data_dir: Path) -> pl.DataFrame:
    return pl.read_parquet(next((data_dir / "work/ingest_alignment").glob("out-*/pairs/part-000.parquet")))


def test_real_pku_rows_exactly_one_safe(tmp_path, shared_data):
    src = shared_data / "alignment" / "PKU-SafeRLHF_Alpaca-7B_test.head10.jsonl"
    run(tmp_path, pku=src)
    rows = [json.loads(l) for l in src.read_text().splitlines()]
    df = pairs(tmp_path)
    # by hand: only rows 3 and 7 have exactly one safe response, and it is response_1 in both
    assert sorted(df["row"].to_list()) == [3, 7]
    for r in df.iter_rows(named=True):
        raw = rows[r["row"]]
        assert r["chosen_ref"] == "response_1" and r["rejected_ref"] == "response_0"
        assert r["chosen"] == raw["response_1"] and r["rejected"] == raw["response_0"] and r["prompt"] == raw["prompt"]
        assert r["attribute"] == "harmlessness" and r["user_type"] == "PKU-SafeRLHF/harmlessness"
        direction = r["direction"]
        assert len(direction) == 90 and direction[HARMLESSNESS] == 1.0
        assert all(v == 0.5 for i, v in enumerate(direction) if i != HARMLESSNESS)
        assert r["source_file"] == src.name and r["dataset"] == "PKU-SafeRLHF"
    m = manifest(tmp_path)
    # the unit is the candidate pair: 10 rows, each one comparison (2 made, 8 dropped)
    assert m["unit"] == "candidate pairs" and m["counts"]["rows"] == 10
    assert m["records_in"] == 10 and m["records_out"] == 2
    assert {k: v for k, v in m["dropped"].items() if v} == {"same_safety": 8}
    assert m["counts"]["pairs.PKU-SafeRLHF.harmlessness"] == 2


def test_real_pku_safer_and_better_rule(tmp_path, shared_data):
    src = shared_data / "alignment" / "PKU-SafeRLHF_Alpaca-7B_test.head10.jsonl"
    run(tmp_path, "ingest_alignment.pku_pairs=safer", "ingest_alignment.targets.pku_helpfulness=-1", pku=src)
    df = pairs(tmp_path)
    harm = df.filter(pl.col("attribute") == "harmlessness")
    helpful = df.filter(pl.col("attribute") == "helpfulness")
    assert harm.height == 10 and helpful.height == 10
    # row 5 is the one where better (1) != safer (0)
    assert harm.filter(pl.col("row") == 5)["chosen_ref"].item() == "response_0"
    assert helpful.filter(pl.col("row") == 5)["chosen_ref"].item() == "response_1"
    helpfulness = load_taxonomy().find("helpfulness of the statement").index
    assert all(d[helpfulness] == 1.0 for d in helpful["direction"].to_list())


def test_demo_samples_give_the_hand_computed_pairs(tmp_path):
    run(tmp_path, pku=SAMPLE / "pku_saferlhf.jsonl", uf=SAMPLE / "ultrafeedback.jsonl", hs2=SAMPLE / "helpsteer2.jsonl")
    m = manifest(tmp_path)
    got = {k[len("pairs."):]: v for k, v in m["counts"].items() if k.startswith("pairs.")}
    assert got == {
        # PKU rows 0, 1, 4, 5 have exactly one safe response; rows 2 (both safe), 3 (both unsafe) do not
        "PKU-SafeRLHF.harmlessness": 4,
        # UltraFeedback, cap 1 per instruction: hash table (4 attrs), sleep tips (helpfulness,
        # instruction-following; honesty N/A, truthfulness tied), water cycle (helpfulness,
        # instruction-following; honesty all 4s, truthfulness 5/5/"seven")
        "UltraFeedback.helpfulness": 3, "UltraFeedback.honesty": 1,
        "UltraFeedback.instruction_following": 3, "UltraFeedback.truthfulness": 1,
        # HelpSteer2: one prompt per attribute differs on exactly that attribute
        "HelpSteer2.helpfulness": 1, "HelpSteer2.correctness": 1, "HelpSteer2.coherence": 1,
        "HelpSteer2.complexity": 1, "HelpSteer2.verbosity": 1,
    }
    assert m["counts"]["rows"] == 6 + 4 + 15
    # 17 pairs made plus every comparison dropped, each for its reason: nothing unaccounted for
    assert m["records_in"] == m["records_out"] + sum(m["dropped"].values()) == 17 + 38
    assert {k: v for k, v in m["dropped"].items() if v} == {
        "same_safety": 2,
        "single_response": 2,  # the translation (one completion) and the grey cat (one row)
        "tie": 4 + 1 + 5 + 1,  # hash table 4, sleep 1, water cycle 5, primary colour 1
        "na_rating": 1, "bad_rating": 2, "over_instruction_cap": 16 + 3,
        "several_differences": 1,  # the boiled egg: helpfulness and verbosity
    }
    df = pairs(tmp_path)
    verbose = df.filter(pl.col("attribute") == "verbosity").row(0, named=True)
    # more verbose = chosen, on the concise/detailed dimension: towards "Detailed" = 0
    assert verbose["chosen"].startswith("Baking soda leavens") and verbose["direction"][VERBOSITY] == 0.0
    assert verbose["pole"] == "Detailed communication style"
    correct = df.filter(pl.col("attribute") == "correctness").row(0, named=True)
    assert "9 November 1989" in correct["chosen"] and correct["row"] == 2 and correct["rejected_ref"] == "row 3"
    # the largest gap wins the per-instruction cap: water cycle helpfulness is b (5) over c (3)
    water = df.filter(pl.col("prompt").str.starts_with("Summarize") & (pl.col("attribute") == "helpfulness"))
    assert water.select("chosen_ref", "rejected_ref", "chosen_score", "rejected_score").row(0) == (
        "completions[1]", "completions[2]", 5.0, 3.0)
    assert df["id"].n_unique() == df.height


def test_helpsteer2_several_differences_rule_is_configurable(tmp_path):
    run(tmp_path, "ingest_alignment.helpsteer2_single_difference=false", hs2=SAMPLE / "helpsteer2.jsonl")
    df = pairs(tmp_path)
    egg = df.filter(pl.col("prompt") == "How do I boil an egg?")
    assert sorted(egg["attribute"].to_list()) == ["helpfulness", "verbosity"]


def test_ultrafeedback_gap_and_cap(tmp_path):
    run(tmp_path, "ingest_alignment.ultrafeedback_min_gap=2", "ingest_alignment.ultrafeedback_max_pairs_per_instruction=10",
        uf=SAMPLE / "ultrafeedback.jsonl")
    df = pairs(tmp_path)
    assert (df["chosen_score"] - df["rejected_score"]).min() >= 2
    # hash table truthfulness 5,3,1,5: gaps >= 2 are ab, ac, bc, bd, cd -> 5 pairs
    table = df.filter(pl.col("prompt").str.starts_with("Explain") & (pl.col("attribute") == "truthfulness"))
    assert table.height == 5


def test_targets_sample_with_the_seed(tmp_path):
    args = ("ingest_alignment.targets.ultrafeedback_helpfulness=2",)
    run(tmp_path / "a", *args, uf=SAMPLE / "ultrafeedback.jsonl")
    run(tmp_path / "b", *args, uf=SAMPLE / "ultrafeedback.jsonl")
    a, b = pairs(tmp_path / "a"), pairs(tmp_path / "b")
    assert a.filter(pl.col("attribute") == "helpfulness").height == 2
    assert a.equals(b)
    assert manifest(tmp_path / "a")["dropped"]["not_sampled"] == 1


def test_parquet_and_json_array_inputs(tmp_path):
    rows = [json.loads(l) for l in (SAMPLE / "helpsteer2.jsonl").read_text().splitlines()]
    pl.DataFrame(rows).write_parquet(tmp_path / "hs2.parquet")
    (tmp_path / "hs2.json").write_text(json.dumps(rows))
    run(tmp_path / "jsonl", hs2=SAMPLE / "helpsteer2.jsonl")
    run(tmp_path / "parquet", hs2=tmp_path / "hs2.parquet")
    run(tmp_path / "json", hs2=tmp_path / "hs2.json")
    base = pairs(tmp_path / "jsonl").drop("id", "source_file")
    assert pairs(tmp_path / "parquet").drop("id", "source_file").equals(base)
    assert pairs(tmp_path / "json").drop("id", "source_file").equals(base)


def test_wrong_schema_names_file_and_column(tmp_path):
    proc = run(tmp_path, pku=SAMPLE / "ultrafeedback.jsonl", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ultrafeedback.jsonl: not a PKU-SafeRLHF file: column 'prompt' is missing" in proc.stderr


def test_bad_pole_label_is_a_clear_error(tmp_path):
    proc = run(tmp_path, "ingest_alignment.poles.verbosity=Wordy", hs2=SAMPLE / "helpsteer2.jsonl", check=False)
    assert proc.returncode == 2 and "ingest_alignment.poles.verbosity: 'Wordy' is not a pole label" in proc.stderr


def test_status_shows_counts_per_source_and_attribute(tmp_path, shared_data):
    run(tmp_path, pku=shared_data / "alignment" / "PKU-SafeRLHF_Alpaca-7B_test.head10.jsonl")
    out = alignx("status", "--set", "ingest_reddit.inputs=[]", "--set", "ingest_alignment.ultrafeedback_inputs=[]",
                 "--set", "ingest_alignment.helpsteer2_inputs=[]", "--set",
                 f"ingest_alignment.pku_inputs={shared_data / 'alignment' / 'PKU-SafeRLHF_Alpaca-7B_test.head10.jsonl'}",
                 data_dir=tmp_path).stdout
    assert "ingest_alignment  up to date" in out and "PKU-SafeRLHF/harmlessness 2" in out
