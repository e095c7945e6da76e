"""Stage evaluate and `alignx evaluate`: P-SOUPS (real benchmark) and the demo release."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from stages.evaluate.intervals import BOOTSTRAP, cluster_bootstrap, wilson
from stages.evaluate.predictors import profile_from_labels
from alignx.taxonomy import load_taxonomy, render_profile

from conftest import alignx, split


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
def psoups(tmp_path_factory, shared_data, built):
    """P-SOUPS with every offline predictor, the trained one fitted on the demo release's train split."""
    d, rel = built
    out = tmp_path_factory.mktemp("eval")
    proc = alignx("evaluate", str(shared_data / "benchmarks" / "p-soups_student_phd.json"), "--train", str(rel),
                  "--out", str(out), data_dir=out / "data")
    report = json.loads((out / "p-soups_student_phd" / "report.json").read_text())
    return out, proc, report, {(r["predictor"], r["persona"]): r for r in report["results"]}


@pytest.mark.e2e
def test_psoups_every_offline_predictor_runs_and_the_report_lands(psoups):
    out, proc, report, results = psoups
    assert {p for p, _ in results} == {"profile", "independent", "embedding", "trained", "no-persona", "length",
                                       "position", "random"}
    assert {q for _, q in results} == {"pair", "demo", "all"}
    assert all(r["n"] == 600 for r in results.values())
    md = (out / "p-soups_student_phd" / "report.md").read_text()
    assert "(published)" in md and "63.33" in md  # AlignXpert-ICA on P-SOUPS, labelled as published
    png = (out / "p-soups_student_phd" / "accuracy.png").read_bytes()
    assert png[:4] == b"\x89PNG" and len(png) > 5000


@pytest.mark.e2e
def test_psoups_embedding_pair_beats_065_and_random_stays_near_half(psoups):
    _, _, _, results = psoups
    assert results[("embedding", "pair")]["accuracy"] > 0.65
    assert abs(results[("random", "pair")]["accuracy"] - 0.5) < 0.1
    lo, hi = results[("embedding", "pair")]["ci95"]
    assert lo < results[("embedding", "pair")]["accuracy"] < hi


@pytest.mark.e2e
def test_psoups_intervals_resample_its_237_distinct_items(psoups, shared_data):
    _, _, report, results = psoups
    rows = json.loads((shared_data / "benchmarks" / "p-soups_student_phd.json").read_text())
    distinct = {(r["prompt"], r["chosen"], r["rejected"]) for r in rows}
    assert report["distinct_items"] == len(distinct) == 237
    length = results[("length", "all")]
    assert length["interval"] == BOOTSTRAP and length["distinct_items"] == 237
    # 600 rows of 237 items: the honest interval is wider than Wilson's, which treats rows as independent
    w_lo, w_hi = wilson(round(length["accuracy"] * 600), 600)
    assert length["ci95"][1] - length["ci95"][0] > 1.3 * (w_hi - w_lo)
    assert "cluster bootstrap over distinct (prompt, chosen, rejected) items (2000 resamples" in \
        (psoups[0] / "p-soups_student_phd" / "report.md").read_text()


@pytest.mark.e2e
def test_psoups_reports_shortcuts_and_the_share_of_longer_chosen(psoups, shared_data):
    out, proc, report, results = psoups
    rows = json.loads((shared_data / "benchmarks" / "p-soups_student_phd.json").read_text())
    distinct = {(r["prompt"], r["chosen"], r["rejected"]) for r in rows}
    longer = sum(len(c) > len(r) for _, c, r in distinct) / len(distinct)
    assert report["chosen_longer_share"] == round(longer, 4)
    assert f"Chosen is the longer response in {100 * longer:.1f}% of distinct items" in proc.stdout
    md = (out / "p-soups_student_phd" / "report.md").read_text()
    assert "## Shortcuts" in md
    # shortcuts are compared with the trained predictor, the model a user would train
    assert report["shortcut_compared_with"] == ["trained"]
    best = results[("trained", "all")]
    flagged = results[("length", "all")]["accuracy"] >= best["ci95"][0]
    assert flagged == any(f.startswith("SHORTCUT: length") and "on all" in f for f in report["shortcut_flags"])


@pytest.mark.e2e
def test_psoups_leakage_audit_is_not_applicable(psoups):
    out, proc, report, _ = psoups
    assert report["leakage"]["status"] == "not applicable"
    assert "Leakage audit: not applicable (no golden direction" in proc.stdout
    assert "Leakage audit: not applicable" in (out / "p-soups_student_phd" / "report.md").read_text()
    assert "No leakage" not in (out / "p-soups_student_phd" / "report.md").read_text()


@pytest.mark.e2e
def test_psoups_trained_head_is_saved_with_the_report_and_reported_against_its_ablation(psoups, built):
    out, _, report, results = psoups
    from stages.evaluate.trained import Heads, release_checksum

    heads = Heads.load(out / "p-soups_student_phd")
    assert heads.persona.shape == (5 * 384,) and heads.no_persona.shape == (2 * 384,)
    assert heads.meta["release_train_sha256"] == release_checksum(sorted(built[1].glob("train-*.parquet")))
    gains = {g["persona"]: g for g in report["persona_gain"]}
    assert set(gains) == {"pair", "demo", "all"}
    g = gains["all"]
    diff = results[("trained", "all")]["accuracy"] - results[("no-persona", "all")]["accuracy"]
    assert abs(g["gain"] - diff) <= 2e-4  # each figure is rounded to 4 places on its own
    assert g["ci95"][0] <= g["gain"] <= g["ci95"][1]


@pytest.fixture(scope="module")
def release(built):
    return built


@pytest.mark.e2e
def test_build_ends_with_an_evaluation_of_its_release(release):
    d, rel = release
    folder = next((d / "work/evaluate").glob("out-*/release"))
    report = json.loads((folder / "report.json").read_text())
    personas = {r["persona"] for r in report["results"]}
    assert personas == {"ugc", "pair", "demo", "all", "golden"}
    assert {r["predictor"] for r in report["results"]} >= {"trained", "no-persona", "length", "position"}
    # the clean release passes the audit: DEMO is built from the history, never the target
    assert report["leakage"]["status"] == "clear" and report["leakage_warnings"] == []
    leak = report["leakage"]
    # the template DEMO is the history summarized by the documented rule, so it matches the
    # history as DEMO exactly (it names every pole the history shows more than its opposite,
    # alignx/persona.py, so it may recall more than the thresholded history profile does)
    assert leak["demo_text_recall"] == leak["history_as_demo_recall"]
    assert leak["profile_accuracy"]["demo"] == leak["profile_accuracy"]["history_as_demo"]
    md = (folder / "report.md").read_text()
    assert "Leakage audit: clear." in md and "## Shortcuts" in md
    assert "consistency (same annotator that built the pairs)" in md
    assert (folder / "trained_head.npz").exists() and report["trained_head"]["train_examples"] > 0


def leaky_copy(rel, path):
    """The test split with DEMO written from each target's own direction, while the history is
    another target's (shifted by one): what the released AlignX appears to do."""
    test = pl.concat([pl.read_parquet(f) for f in rel.glob("test-*.parquet")]).sort("persona_type", "id")
    leaked = test.with_columns(
        pl.Series("Demographic Information", [render_profile(np.array(direction))
                                              for direction in test["Preference Direction"].to_list()]),
        pl.col("User-Generated Content").shift(1).over("persona_type"),
        pl.col("Pair-wise Comparative Feedback").shift(1).over("persona_type"),
    ).filter(pl.col("User-Generated Content").is_not_null() | (pl.col("persona_type") == "demo"))
    leaked.write_parquet(path)
    return path


@pytest.mark.e2e
def test_leakage_audit_flags_a_demographic_text_written_from_the_target(release, tmp_path):
    d, rel = release
    path = leaky_copy(rel, tmp_path / "leaky.parquet")
    out = alignx("evaluate", str(path), "--predictors", "profile", "--out", str(tmp_path / "out"), data_dir=d).stdout
    assert "LEAKAGE: the Demographic Information reveals the label" in out
    report = json.loads((tmp_path / "out/leaky/report.json").read_text())
    assert report["leakage"]["status"] == "LEAK"
    assert report["leakage"]["demo_text_recall"] == 1.0  # DEMO names every pole of the target's direction
    assert report["leakage"]["history_as_demo_recall"] < 1.0 - report["leakage"]["margin"]
    assert "**LEAKAGE:" in (tmp_path / "out/leaky/report.md").read_text()


def agreement(golden: np.ndarray, prof: np.ndarray) -> float:
    """The profile predictor's score of a target whose direction is ``golden`` under ``prof``."""
    strong = prof != 0.5
    return float(((golden == prof) & strong).sum() - ((golden == 1 - prof) & strong).sum())


def summarized_rows(rel) -> list[dict]:
    """Clean rows built to fool the audit's old accuracy criterion: every release target (train and
    test) and PAIR item crossed with every release history (its real UGC and PAIR items and their directions),
    each row's DEMO the documented template over ``traits`` of that history (12 traits, as
    assemble writes it), so DEMO knows nothing the history does not. Kept: the rows whose DEMO
    predicts the target while the UGC half alone or the PAIR half alone does not (half of each,
    by the predictor's rule against the target's released direction), where the old criterion,
    which compared DEMO with each half's raw profile, cried LEAK."""
    from alignx.persona import traits
    from alignx.taxonomy import profile
    from stages.assemble.demographic import template

    rows = [r for r in pl.concat([split(rel, "train"), split(rel, "test").filter(pl.col("persona_type") == "all")],
                                 how="diagonal_relaxed").iter_rows(named=True)
            if r["User-Generated Content"] and r["Pair-wise Comparative Feedback"]]
    # the release's oriented pairs as targets: its targets and its PAIR items (as many real pairs
    # again from a small release)
    targets = rows + [item for r in rows for item in r["Pair-wise Comparative Feedback"]]
    ugc_wrong, pair_wrong = [], []
    for target in targets:
        golden = np.asarray(target["Preference Direction"], dtype=float)
        for h in rows:
            ugc = [np.asarray(x["Preference Direction"], dtype=float) for x in h["User-Generated Content"]]
            pair = [np.asarray(x["Preference Direction"], dtype=float) for x in h["Pair-wise Comparative Feedback"]]
            demo = template(traits(ugc + pair, 12))
            if agreement(golden, profile_from_labels(demo)) <= 0:
                continue
            row = {k: target[k] for k in ("prompt", "chosen", "rejected", "Preference Direction")}
            row.update({"Demographic Information": demo, "User-Generated Content": h["User-Generated Content"],
                        "Pair-wise Comparative Feedback": h["Pair-wise Comparative Feedback"]})
            if agreement(golden, profile(np.stack(ugc))) <= 0:
                ugc_wrong.append(row)
            elif agreement(golden, profile(np.stack(pair))) <= 0:
                pair_wrong.append(row)
    n = min(len(ugc_wrong), len(pair_wrong))
    return ugc_wrong[:n] + pair_wrong[:n]


@pytest.mark.e2e
def test_a_demo_summarizing_the_history_is_clear_where_the_old_criterion_cried_leak(release, tmp_path):
    d, rel = release
    rows = summarized_rows(rel)
    assert len(rows) >= 20
    clean = tmp_path / "clean.parquet"
    pl.DataFrame(rows).write_parquet(clean)
    alignx("evaluate", str(clean), "--predictors", "profile", "--out", str(tmp_path / "out"), data_dir=d)
    report = json.loads((tmp_path / "out/clean/report.json").read_text())
    acc = {r["persona"]: r["accuracy"] for r in report["results"] if r["predictor"] == "profile"}
    margin = report["leakage"]["margin"]
    # the old criterion: DEMO-only within the margin of golden and beating UGC and PAIR by more
    assert acc["demo"] >= acc["golden"] - margin and acc["demo"] > max(acc["ugc"], acc["pair"]) + margin
    leak = report["leakage"]
    assert leak["status"] == "clear", leak
    assert leak["profile_accuracy"]["demo"] == leak["profile_accuracy"]["history_as_demo"] == acc["demo"]
    assert leak["demo_text_recall"] == leak["history_as_demo_recall"] and leak["rows_demo_differs"] == 0
    # the same rows with DEMO written from the target instead: flagged
    leaky = tmp_path / "leaky.parquet"
    pl.DataFrame([{**r, "Demographic Information": render_profile(np.asarray(r["Preference Direction"]))}
                  for r in rows]).write_parquet(leaky)
    alignx("evaluate", str(leaky), "--predictors", "profile", "--out", str(tmp_path / "out"), data_dir=d)
    leak = json.loads((tmp_path / "out/leaky/report.json").read_text())["leakage"]
    assert leak["status"] == "LEAK" and leak["demo_text_recall"] == 1.0
    assert leak["history_as_demo_recall"] < 1.0 - margin
    # and by accuracy: the history summarized at the leaky DEMO's number of traits predicts less
    assert leak["profile_accuracy"]["demo"] > leak["profile_accuracy"]["history_as_demo"] + margin
    # a partial leak: the target's own direction summarized as one more history item, by the same
    # rule; only some rows' DEMO changes, and those rows give it away
    from alignx.persona import traits
    from stages.assemble.demographic import template

    def history(r):
        return [np.asarray(x["Preference Direction"], dtype=float)
                for x in r["User-Generated Content"] + r["Pair-wise Comparative Feedback"]]

    partial = tmp_path / "partial.parquet"
    with_target = [history(r) + [np.asarray(r["Preference Direction"], dtype=float)] for r in rows]
    pl.DataFrame([{**r, "Demographic Information": template(traits(h, 12))}
                  for r, h in zip(rows, with_target)]).write_parquet(partial)
    alignx("evaluate", str(partial), "--predictors", "profile", "--out", str(tmp_path / "out"), data_dir=d)
    leak = json.loads((tmp_path / "out/partial/report.json").read_text())["leakage"]
    assert 0 < leak["rows_demo_differs"] < len(rows) and leak["status"] == "LEAK", leak
    assert leak["differing_rows_recall"]["demo"] > leak["differing_rows_recall"]["history_as_demo"] + margin


@pytest.mark.e2e
def test_the_clean_test_split_passes_the_same_audit(release, tmp_path):
    d, rel = release
    out = alignx("evaluate", str(next(rel.glob("test-*.parquet"))), "--predictors", "length", "--out",
                 str(tmp_path / "out"), data_dir=d).stdout
    assert "Leakage audit: clear." in out
    report = json.loads(next((tmp_path / "out").glob("*/report.json")).read_text())
    assert report["leakage"]["status"] == "clear"
    # --predictors picks the predictors; the shortcut baselines length and position always come along
    assert {r["predictor"] for r in report["results"]} == {"length", "position"}


@pytest.mark.e2e
def test_trained_head_is_seeded_cached_by_the_release_and_reused(release, tmp_path):
    d, rel = release
    data = tmp_path / "data"
    for run in ("a", "b"):
        alignx("evaluate", str(rel), "--predictors", "trained", "--out", str(tmp_path / run), data_dir=data)
    a, b = (json.loads((tmp_path / run / rel.name / "report.json").read_text()) for run in ("a", "b"))
    assert a["results"] == b["results"]
    assert (tmp_path / "a" / rel.name / "trained_head.npz").read_bytes() == \
        (tmp_path / "b" / rel.name / "trained_head.npz").read_bytes()
    assert len(list((data / "cache" / "trained").iterdir())) == 1  # fitted once, then read back


@pytest.mark.e2e
def test_trained_scores_flip_when_the_responses_swap(release, tmp_path):
    from alignx.embeddings import EmbeddingCache
    from stages.evaluate.predictors import load_examples, load_rows
    from stages.evaluate.trained import Heads, TrainedPredictor, load_or_fit

    d, rel = release
    embedder = EmbeddingCache(d / "cache" / "embeddings")
    heads = load_or_fit(sorted(rel.glob("train-*.parquet")), load_rows, embedder, None, c=1.0, max_examples=1000,
                        seed=0)
    assert isinstance(heads, Heads)
    rows = [e for e in load_examples(rel) if e["persona_type"] == "all"]
    swapped = [{**e, "chosen": e["rejected"], "rejected": e["chosen"]} for e in rows]
    for with_persona in (True, False):
        pred = TrainedPredictor(heads, embedder, with_persona)
        assert np.allclose(pred.scores(rows, "all"), -pred.scores(swapped, "all"), atol=1e-5)


def test_cluster_bootstrap_of_repeated_items_equals_that_of_the_items():
    hits = np.random.default_rng(1).random(50) < 0.7
    once = cluster_bootstrap(hits.astype(float), np.arange(50), 2000, 0)
    thrice = cluster_bootstrap(np.repeat(hits, 3).astype(float), np.repeat(np.arange(50), 3), 2000, 0)
    assert once == thrice  # repeating an item does not make it more certain
    lo, hi = once
    assert lo < hits.mean() < hi and 0.1 < hi - lo < 0.35


@pytest.mark.e2e
def test_unknown_predictor_is_a_clear_error(tmp_path, shared_data):
    bench = str(shared_data / "benchmarks" / "p-soups_student_phd.json")
    proc = alignx("evaluate", bench, "--set", 'evaluate.predictors=["oracle"]', data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "'evaluate.predictors' = [\"oracle\"] must be one of \"profile\"" in proc.stderr
    proc = alignx("evaluate", bench, "--predictors", "oracle", data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "evaluate.predictors: unknown 'oracle'" in proc.stderr
    proc = alignx("evaluate", bench, "--predictors", "trained", data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "predictor trained needs a release's train split" in proc.stderr


@pytest.mark.e2e
def test_llm_judge_asks_both_orders_and_counts_invalid_answers(tmp_path, shared_data):
    from openai_server import OpenAIServer

    rows = json.loads((shared_data / "benchmarks" / "p-soups_student_phd.json").read_text())[:20]
    bench = tmp_path / "small.json"
    bench.write_text(json.dumps(rows))
    with OpenAIServer() as server:
        server.faults.extend(["schema", "schema", "schema"])
        out = alignx("evaluate", str(bench), "--out", str(tmp_path / "out"), "--predictors",
                     "llm-judge,length", "--set", f"evaluate.judge_base_url={server.url}",
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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_an_empty_split_gets_a_report_not_a_crash(release, tmp_path):
    d, rel = release
    test = pl.concat([pl.read_parquet(f) for f in rel.glob("test-*.parquet")])
    empty = tmp_path / "empty.parquet"
    test.head(0).write_parquet(empty)
    out = alignx("evaluate", str(empty), "--train", str(rel), "--out", str(tmp_path / "out"), data_dir=d).stdout
    assert "empty: 0 examples" in out
    assert "No examples to evaluate" in (tmp_path / "out/empty/report.md").read_text()


@pytest.mark.e2e
def test_independent_rerates_the_history_and_the_consistency_predictor_reads_its_directions(release, tmp_path):
    """profile reads the history's released directions (the annotator that oriented the pairs);
    independent ignores them and re-rates every text with another embedding model."""
    from pipeline.config import load_config
    from annotators.embedding import EmbeddingAnnotator
    from stages.evaluate.predictors import PAIR, UGC, IndependentPredictor, ProfilePredictor, load_examples
    from stages.evaluate.stage import annotator_models

    d, rel = release
    rows = [e for e in load_examples(rel) if e["persona_type"] == "all"]
    assert any(x.get("Preference Direction") is not None for e in rows for x in (e[UGC] or []) + (e[PAIR] or []))
    # every history direction flipped: a predictor that reads them must change its mind
    flipped = [{**e, UGC: [{**x, "Preference Direction": [1 - v for v in x["Preference Direction"]]}
                           for x in e[UGC] or []],
                PAIR: [{**x, "Preference Direction": [1 - v for v in x["Preference Direction"]]} for x in e[PAIR] or []]}
               for e in rows]
    emb = d / "cache" / "embeddings"
    same, other = annotator_models(load_config())
    assert same == load_config()["annotate.embedding_model"] != other  # the default picks the other bundled model
    profile = ProfilePredictor(EmbeddingAnnotator(same, emb))
    independent = IndependentPredictor(EmbeddingAnnotator(other, tmp_path / "emb"))
    assert not np.array_equal(profile.scores(rows, "all"), profile.scores(flipped, "all"))
    assert np.array_equal(independent.scores(rows, "all"), independent.scores(flipped, "all"))
    proc = alignx("evaluate", str(rel), "--predictors", "independent", "--set", f"evaluate.independent_model={same}",
                  data_dir=tmp_path / "data", check=False)
    assert proc.returncode == 2 and "is the annotator's own model" in proc.stderr


@pytest.mark.e2e
def test_release_report_labels_consistency_and_independent_apart_and_compares_shortcuts_with_neither(
        release, tmp_path):
    d, rel = release
    alignx("evaluate", str(rel), "--predictors", "profile,independent,embedding", "--out", str(tmp_path / "out"),
           data_dir=d)
    report = json.loads((tmp_path / "out" / rel.name / "report.json").read_text())
    labels = {r["predictor"]: r["label"] for r in report["results"]}
    assert labels["profile"] == "consistency (same annotator that built the pairs)"
    assert labels["independent"].startswith("independent annotator")
    # profile and independent share the release's instruments: the shortcuts are compared with embedding only
    assert report["shortcut_compared_with"] == ["embedding"]
    best = next(r for r in report["results"] if r["predictor"] == "embedding" and r["persona"] == "all")
    length = next(r for r in report["results"] if r["predictor"] == "length" and r["persona"] == "all")
    rows = split(rel, "test").filter(pl.col("persona_type") == "all")
    shorter = sum(len(c) < len(r) for c, r in zip(rows["chosen"], rows["rejected"])) / rows.height
    flagged = any(f.startswith("SHORTCUT: length") and "on all" in f for f in report["shortcut_flags"])
    assert flagged == (max(length["accuracy"], shorter) >= best["ci95"][0])
    assert any(f.startswith("SHORTCUT: length reversed") for f in report["shortcut_flags"]) == (
        shorter > length["accuracy"] and shorter >= best["ci95"][0])
    md = (tmp_path / "out" / rel.name / "report.md").read_text()
    assert "| length | shortcut: prefers the longer response |" in md
    assert "Chosen is the longer response in" in md


@pytest.mark.e2e
def test_a_release_report_with_only_the_consistency_predictor_says_no_shortcut_check_ran(release, tmp_path):
    d, rel = release
    alignx("evaluate", str(rel), "--predictors", "profile,independent", "--out", str(tmp_path / "out"), data_dir=d)
    md = (tmp_path / "out" / rel.name / "report.md").read_text()
    assert "No shortcut check: no persona predictor to compare the shortcuts with" in md
    assert "No shortcut flag" not in md


@pytest.mark.e2e
def test_a_report_into_the_data_dir_takes_the_writer_lock_one_elsewhere_does_not(release, tmp_path, shared_data):
    from pipeline.lock import writer_lock

    bench = str(shared_data / "benchmarks" / "p-soups_student_phd.json")
    data = tmp_path / "data"
    with writer_lock(data, "alignx run"):  # a build is writing to this data dir
        busy = alignx("evaluate", bench, "--predictors", "length", data_dir=data, check=False)
        assert busy.returncode == 2 and "is in use by another alignx (alignx run" in busy.stderr
        assert not (data / "work" / "evaluate").exists()
        elsewhere = alignx("evaluate", bench, "--predictors", "length", "--out", str(tmp_path / "out"), data_dir=data)
        assert (tmp_path / "out" / "p-soups_student_phd" / "report.json").exists() and "length" in elsewhere.stdout
    alignx("evaluate", bench, "--predictors", "length", data_dir=data)  # the lock is free again: the default works
    assert (data / "work" / "evaluate" / "adhoc" / "p-soups_student_phd" / "report.md").exists()


@pytest.mark.e2e
def test_preferring_the_shorter_response_is_flagged_as_a_shortcut_too(tmp_path, shared_data):
    """P-SOUPS with every pair turned so that chosen is never the longer one: "prefers the longer"
    scores 0%, and the same rule reversed is a perfect shortcut the report must name."""
    rows = json.loads((shared_data / "benchmarks" / "p-soups_student_phd.json").read_text())
    turned = [{**r, "chosen": r["rejected"], "rejected": r["chosen"]} if len(r["chosen"]) > len(r["rejected"]) else r
              for r in rows]
    path = tmp_path / "shorter.json"
    path.write_text(json.dumps(turned))
    out = alignx("evaluate", str(path), "--predictors", "profile", "--out", str(tmp_path / "out"),
                 data_dir=tmp_path / "data").stdout
    report = json.loads((tmp_path / "out/shorter/report.json").read_text())
    length = {r["persona"]: r for r in report["results"] if r["predictor"] == "length"}
    assert length["all"]["accuracy"] == 0.0 and report["chosen_longer_share"] == 0.0
    assert "SHORTCUT: length reversed (prefers the shorter response) (" in out
    assert any(f.startswith("SHORTCUT: length reversed") and "on all" in f for f in report["shortcut_flags"])
