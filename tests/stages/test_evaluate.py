"""Stage evaluate and `alignx evaluate`: P-SOUPS (real benchmark) and the demo release."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from stages.evaluate.predictors import profile_from_labels, wilson
from alignx.taxonomy import load_taxonomy, render_profile

from conftest import alignx


def test_wilson_interval_hand_computed():
    lo, hi = wilson(8, 10)  # p = 0.8, n = 10: the textbook interval is [0.490, 0.943]
    assert round(lo, 3) == 0.490 and round(hi, 3) == 0.943
    assert wilson(0, 0) == (0.0, 0.0)


def test_profile_labels_with_commas_parse_back():
    tax = load_taxonomy()
    prof = np.full(90, 0.5)
    superficial = tax.find("superficial interaction").index  # its label holds a comma
    prof[[0, 16, superficial]] = [1.0, 0.0, 1.0]
    text = render_profile(prof)
    assert "(casual, stress-free chat)" in text
    assert (profile_from_labels(text) == prof).all()


@pytest.fixture(scope="module")
def psoups(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("eval")
    proc = alignx("evaluate", str(shared_data / "benchmarks" / "p-soups_student_phd.json"), "--out", str(out),
                  data_dir=out / "data")
    report = json.loads((out / "p-soups_student_phd" / "report.json").read_text())
    return out, proc, {(r["predictor"], r["persona"]): r for r in report["results"]}


def test_psoups_every_offline_predictor_runs_and_the_report_lands(psoups):
    out, proc, results = psoups
    assert {p for p, _ in results} == {"profile", "embedding", "length", "random"}
    assert {q for _, q in results} == {"pair", "demo", "all"}
    assert all(r["n"] == 600 for r in results.values())
    md = (out / "p-soups_student_phd" / "report.md").read_text()
    assert "(published)" in md and "63.33" in md  # AlignXpert-ICA on P-SOUPS, labelled as published
    png = (out / "p-soups_student_phd" / "accuracy.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 5000


def test_psoups_embedding_pair_beats_065_and_random_stays_near_half(psoups):
    _, _, results = psoups
    assert results[("embedding", "pair")]["accuracy"] > 0.65
    assert abs(results[("random", "pair")]["accuracy"] - 0.5) < 0.07
    lo, hi = results[("embedding", "pair")]["ci95"]
    assert lo < results[("embedding", "pair")]["accuracy"] < hi


@pytest.fixture(scope="module")
def release(built):
    return built


def test_build_ends_with_an_evaluation_of_its_release(release):
    d, _ = release
    report = json.loads(next((d / "work/evaluate").glob("out-*/release/report.json")).read_text())
    personas = {r["persona"] for r in report["results"]}
    assert personas == {"ugc", "pair", "demo", "all", "golden"}
    assert report["leakage_warnings"] == []  # DEMO is built from the history, never the target


def test_leakage_audit_flags_a_demographic_text_written_from_the_target(release, tmp_path):
    d, rel = release
    test = pl.concat([pl.read_parquet(f) for f in rel.glob("test-*.parquet")])
    # what the released AlignX appears to do: describe the user from the target's own direction,
    # while the history says little about the target (here: another user's history, shifted by one)
    leaked = test.sort("persona_type", "id").with_columns(
        pl.Series("Demographic Information", [render_profile(np.array(direction))
                                              for direction in test.sort("persona_type", "id")["Preference Direction"].to_list()]),
        pl.col("User-Generated Content").shift(1).over("persona_type"),
        pl.col("Pair-wise Comparative Feedback").shift(1).over("persona_type"),
    ).filter(pl.col("User-Generated Content").is_not_null() | (pl.col("persona_type") == "demo"))
    path = tmp_path / "leaky.parquet"
    leaked.write_parquet(path)
    out = alignx("evaluate", str(path), "--out", str(tmp_path / "out"), data_dir=d).stdout
    assert "LEAKAGE: profile" in out
    report = json.loads((tmp_path / "out/leaky/report.json").read_text())
    assert any(w.startswith("LEAKAGE: profile") for w in report["leakage_warnings"])


def test_unknown_predictor_is_a_clear_error(tmp_path, shared_data):
    proc = alignx("evaluate", str(shared_data / "benchmarks" / "p-soups_student_phd.json"), "--set",
                  'evaluate.predictors=["oracle"]', data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "'evaluate.predictors' = [\"oracle\"] must be one of \"profile\"" in proc.stderr


def test_llm_judge_asks_both_orders_and_counts_invalid_answers(tmp_path, shared_data):
    from openai_server import OpenAIServer

    rows = json.loads((shared_data / "benchmarks" / "p-soups_student_phd.json").read_text())[:20]
    bench = tmp_path / "small.json"
    bench.write_text(json.dumps(rows))
    with OpenAIServer() as server:
        server.faults.extend(["schema", "schema", "schema"])
        out = alignx("evaluate", str(bench), "--out", str(tmp_path / "out"), "--set",
                     'evaluate.predictors=["llm-judge", "length"]', "--set", f"evaluate.judge_base_url={server.url}",
                     data_dir=tmp_path, env={"OPENAI_API_KEY": "sk-test"}).stdout
        assert server.chat_requests == 20 * 2 * 3  # both orders, for pair, demo and all
    report = json.loads((tmp_path / "out/small/report.json").read_text())
    assert report["judge_invalid_answers"] == {"llm-judge": 3}
    results = {(r["predictor"], r["persona"]): r["accuracy"] for r in report["results"]}
    # the test judge prefers the longer response in either order, so it agrees with the length
    # baseline except where an invalid answer made it abstain
    assert abs(results[("llm-judge", "pair")] - results[("length", "pair")]) <= 3 / 20
    assert "3 invalid answers of 120 requests" in out


def test_logprob_arithmetic_matches_a_hand_computation():
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from stages.evaluate.predictors import LogprobPredictor

    words = ["[PAD]", "[UNK]", "post", "user", "likes", "cats", "dogs", "yes", "no", "about", "the", ":"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(words), n_positions=32, n_embd=16, n_layer=1, n_head=2)
    policy, reference = GPT2LMHeadModel(config), GPT2LMHeadModel(config)
    pred = LogprobPredictor(policy, reference, tokenizer, beta=0.1, max_length=6, batch_size=2)

    def by_hand(model, prompt: str, response: str) -> float:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        r = tokenizer(response, add_special_tokens=False)["input_ids"]
        ids = (p + r)[-6:]  # left-truncated to max_length
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0], dim=-1)
        return sum(float(logp[t - 1, ids[t]]) for t in range(len(ids) - len(r), len(ids)))

    prompts = ["about the user : likes cats post", "post"]
    responses = ["yes cats", "no dogs dogs"]
    got = pred.rewards(prompts, responses)
    want = [0.1 * (by_hand(policy, p, r) - by_hand(reference, p, r)) for p, r in zip(prompts, responses)]
    assert np.allclose(got, want, atol=1e-5)
    # accuracy counts chosen strictly above rejected
    example = {"prompt": "post", "chosen": "yes cats", "rejected": "no dogs", "Pair-wise Comparative Feedback": []}
    score = pred.scores([example], "pair")[0]
    p = ica_prompt_for(example)
    assert np.isclose(score, (0.1 * (by_hand(policy, p, "yes cats") - by_hand(reference, p, "yes cats")))
                      - (0.1 * (by_hand(policy, p, "no dogs") - by_hand(reference, p, "no dogs"))), atol=1e-5)


def ica_prompt_for(example):
    from stages.evaluate.predictors import ica_prompt

    return ica_prompt(example, "pair")


def test_win_rate_against_the_local_server(tmp_path, shared_data):
    from openai_server import OpenAIServer

    bench = shared_data / "benchmarks" / "p-soups_student_phd.json"
    with OpenAIServer() as server:
        out = alignx("evaluate", str(bench), "--win-rate", "--limit", "10", "--out", str(tmp_path / "out"),
                     "--set", f"evaluate.judge_base_url={server.url}", data_dir=tmp_path,
                     env={"OPENAI_API_KEY": "sk-test"}).stdout
        assert server.chat_requests == 10 * 4  # two generations and two judgements per example
    result = json.loads((tmp_path / "out/p-soups_student_phd/win_rate.json").read_text())
    assert result["win"] + result["tie"] + result["loss"] == result["n"] == 10
    # the test server writes longer answers when given a persona and its judge prefers longer ones
    assert result["win"] == 10 and "win 10, tie 0, loss 0 of 10" in out


def test_an_empty_split_gets_a_report_not_a_crash(release, tmp_path):
    d, rel = release
    test = pl.concat([pl.read_parquet(f) for f in rel.glob("test-*.parquet")])
    empty = tmp_path / "empty.parquet"
    test.head(0).write_parquet(empty)
    out = alignx("evaluate", str(empty), "--out", str(tmp_path / "out"), data_dir=d).stdout
    assert "empty: 0 examples" in out
    assert "No examples to evaluate" in (tmp_path / "out/empty/report.md").read_text()
