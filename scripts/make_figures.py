"""Write docs/figures.md, the one page of measured figures, from bench/results/*.json.

    python scripts/make_figures.py            # rewrite docs/figures.md (make figures; make bench runs it)
    python scripts/make_figures.py --check    # exit 1 if docs/figures.md is not what the results give

No figure on that page is typed by hand: each section renders one results file, so a rerun
benchmark changes the page and tests/framework/test_docs.py fails until it is regenerated.
Prose elsewhere (README, docs/stages/) links here instead of quoting figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PAGE = ROOT / "docs" / "figures.md"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def ci(pair: list[float] | None) -> str:
    return "" if not pair else f" [{pct(pair[0])}, {pct(pair[1])}]"


def num(x, digits: int = 3) -> str:
    """A figure as the results file holds it: ints with thousands separators, floats to ``digits``."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(str(c) for c in row) + " |" for row in rows), ""]


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# -- one section per results file ------------------------------------------------------------
def ingest(r: dict) -> list[str]:
    t = r["targets"]
    out = ["## Ingest", "", "`python -m bench ingest` -> `bench/results/ingest.json`: the `ingest_reddit` stage "
           "against the plain loop a user writes (zstandard stream + `json.loads` per line, no filters, no output) "
           f"and the same loop with orjson, in the same run, on {r['cpus']} cores. Peak MB is the largest sum of the "
           "resident memory of the whole process tree (the stage's workers included). Targets: at least "
           f"{t['speedup_vs_json_loads_min']}x the `json.loads` loop, at most {num(t['peak_rss_mb_max'])} MB.", ""]
    corpora = ("real", "replicated")
    out += ["Inputs: " + "; ".join(
        f"**{c}**, {r['corpus'][c]}: {num(r[c]['decompressed_mb'], 1)} MB decompressed, "
        f"{num(r[c]['pipeline']['records'])} records, load average {num(r[c]['load_average_at_start'], 2)} at start"
        for c in corpora) + ".", ""]

    def cell(x: dict) -> str:
        return f"{num(x['seconds'], 2)} / {num(x['cpu_seconds'], 2)} / {num(x['peak_rss_mb'], 0)}"

    out += table(["reader, same files, same run", *(f"{c}: wall s / CPU s / peak MB" for c in corpora),
                  "what it does"],
                 [["plain loop: zstandard stream + `json.loads` per line",
                   *(cell(r[c]["json_loads"]) for c in corpora), "parses; nothing else"],
                  ["the same loop with orjson", *(cell(r[c]["orjson"]) for c in corpora), "parses; nothing else"],
                  ["`alignx run ingest_reddit`", *(cell(r[c]["pipeline"]) for c in corpora),
                   "parse, filter, language ID, near-duplicates, threads, parquet"],
                  ["stage vs `json.loads` loop", *(f"{r[c]['speedup_vs_json_loads']}x wall, "
                                                   f"{r[c]['cpu_ratio_json_loads_to_pipeline']}x CPU" for c in corpora),
                   ""]])
    speed = max(r[c]["speedup_vs_json_loads"] for c in corpora)
    peak = max(r[c]["pipeline"]["peak_rss_mb"] for c in corpora)
    out += [f"Speed target met: {'yes' if speed >= t['speedup_vs_json_loads_min'] else 'no'} (best "
            f"{speed}x wall); memory target met: {'yes' if peak <= t['peak_rss_mb_max'] else 'no'} (largest peak "
            f"{num(peak, 0)} MB).", ""]
    phases = list(r["real"]["cpu_breakdown"]["cpu_seconds"])
    rows = []
    for ph in phases:
        name = ph.replace("_", " ")
        if ph == "language_id":
            name += " (its model loading included)"
        vals = []
        for c in corpora:
            b = r[c]["cpu_breakdown"]
            v = num(b["cpu_seconds"][ph], 2)
            if ph == "language_id":
                v += f" ({num(b['language_id_model_load_cpu_seconds'], 2)} loading)"
            vals.append(v)
        rows.append([name, *vals])
    rows.append(["**whole stage**", *(f"**{num(r[c]['pipeline']['cpu_seconds'], 2)}**" for c in corpora)])
    rows.append(["read + parse alone vs the `json.loads` loop, CPU (wall)",
                 *(f"{r[c]['cpu_breakdown']['read_parse_vs_json_loads_cpu']}x "
                   f"({r[c]['cpu_breakdown']['read_parse_vs_json_loads']}x)" for c in corpora)])
    out += ["The stage's CPU seconds by phase (`bench/ingest_breakdown.py`: the stage's own functions phase by "
            "phase in one fresh process, their threads included; \"rest\" is the stage's CPU seconds minus the "
            "phases: dedupe, templated posts, thread links and prompts, parquet writes, start-up and imports of "
            "its processes, language ID's model loading in the second worker). The same breakdown on r/ethereum "
            "alone, from the scale run, is in [docs/scaling.md](scaling.md#what-a-full-alignx-build-needs).", ""]
    out += table(["phase, CPU s", *corpora], rows)
    counts = r["real"]["pipeline"]["counts"]
    out += [f"What the stage kept of the real dumps: {num(r['real']['pipeline']['kept'])} records of "
            f"{num(r['real']['pipeline']['records'])} ({num(counts['comments'])} comments, "
            f"{num(counts['replies'])} of them replies; {num(counts['submissions'])} posts, "
            f"{num(counts['templated_post_bodies'])} of them with a templated body; {num(counts['near_duplicate_clusters'])} "
            "near-duplicate clusters).", ""]
    n = r["near_duplicate_agreement"]
    out += ["### Near-duplicates against datasketch", "",
            f"On {num(n['comments'])} r/ethereum comments (threshold {n['threshold']}, {n['num_perm']} permutations, "
            f"word {n['ngram']}-grams): the stage removes {num(n['removed_by_stage'])}, datasketch "
            f"{num(n['removed_by_datasketch'])}, both {num(n['removed_by_both'])} (Jaccard of the removed sets "
            f"{n['removed_sets_jaccard']}; {pct(n['same_decision_and_kept_text'])}% of the texts either removes get "
            f"the same decision and the same kept text), in {n['stage_cpu_seconds']} CPU s against datasketch's "
            f"{n['datasketch_cpu_seconds']}.", ""]
    return out


LANGUAGE_ID = {"heuristic": "heuristic", "lingua_all_75_plain": "lingua, 75 languages, high accuracy",
               "lingua_22_low_accuracy": "lingua, 22 languages, low accuracy",
               "lingua_22_high_accuracy": "lingua, 22 languages, high accuracy",
               "lingua_22_low_accuracy_shortcut": "lingua, 22 languages, low accuracy, shortcut",
               "lingua_22_high_accuracy_shortcut": "lingua, 22 languages, high accuracy, shortcut",
               "lingua_22_screened_shortcut": "lingua, 22 languages, low accuracy screens, high accuracy confirms, "
                                              "shortcut"}


def language_id(r: dict) -> list[str]:
    out = ["## Language identification", "",
           f"`python -m bench language_id` -> `bench/results/language_id.json`: {r['labelled_comments']} comments of "
           f"the real dumps read and labelled by hand (`{r['labels']}`); flags counted on 5,000 unlabelled "
           "r/ethereum comments (almost all English, so a flag there is mostly English lost). Every miss is listed "
           "in the results file.", ""]
    rows = []
    for key, d in r["detectors"].items():
        lab, speed = d["labelled"], d["speed"]
        name = LANGUAGE_ID.get(key, key)
        if key == r["chosen"]:
            name = f"**{name} (default)**"
        rows.append([name, f"{num(lab['non_english_precision'], 2)} / {num(lab['non_english_recall'], 2)}",
                     num(lab["english_kept"], 3), num(lab["balanced_accuracy"], 3),
                     speed["flagged_non_english"], num(speed["cpu_ms_per_1k_texts"], 1)])
    out += table(["detector", "non-English precision / recall", "English kept", "balanced accuracy",
                  "flags in 5,000 unlabelled", "CPU ms per 1k texts"], rows)
    return out


def privacy(r: dict) -> list[str]:
    out = ["## Privacy", "", "`python -m bench privacy` -> `bench/results/privacy.json`, on `../shared/data/pii`. "
           f"Layers: {r['layers']}.", "", "Presidio's synthetic set:", ""]
    out += table(["kind", "gold", "found", "recall", "precision", "precision (any personal data)"],
                 [[k, v["gold"], v["found"], v["recall"], v["precision"], v["precision_any_pii"]]
                  for k, v in r["presidio_synthetic"].items() if isinstance(v, dict)])
    w = r["wnut17_dev"]
    out += [f"WNUT-17 dev ({num(w['sentences'])} real social-media sentences, {w['person_names']} person names, "
            f"no author dictionary): person recall {w['person_recall']}; of {w['findings']} findings, "
            f"{w['precision_person']} are on a labelled person and {w['precision_any_entity']} on a labelled entity "
            "of some kind.", "",
            "Canaries (synthetic values appended to real r/ethereum comments), recall per kind: "
            + ", ".join(f"{k} {v['recall']} of {v['planted']}" for k, v in r["canaries"].items()) + ".", ""]
    s = r["scrub_speed"]
    out += [f"Scrubbing speed: {num(s['records_per_cpu_second'])} texts per CPU second, "
            f"{num(s['records_per_wall_second'])} per wall second on the shared machine ({num(s['texts'])} real "
            f"comments of {s['mean_chars']} characters on average, {num(s['author_names'])} author names); the "
            f"author-name layer alone {num(s['author_name_layer_per_cpu_second'])}/s against "
            f"{num(s['baseline_alternation_regex_per_cpu_second'])}/s for one alternation regex of the names.", ""]
    return out


def annotator_validity(r: dict) -> list[str]:
    t = r["reference_test"]
    rounds = t.get("by_round", {})
    last = max(rounds, key=int) if rounds else None
    out = ["## Annotator validity", "",
           "`make bench` (`bench/validity.py`: `alignx validate-annotator`'s report, two real builds, throughput) -> "
           "`bench/results/annotator_validity.json`."
           f" Annotator `{r['annotator']}`, on the reference set's test split ({t['items']} comments, {t['pairs']} "
           f"sibling pairs; data/validation/README.md). {len(t['dimensions_rated'])} dimensions are rated, "
           f"{len(t['dimensions_never_rated'])} never. Non-neutral dimensions per item: median "
           f"{num(t['non_neutral_per_item']['median'], 1)}, max {t['non_neutral_per_item']['max']} (the labellers: "
           f"median {num(t['reference_non_neutral_per_item'], 1)}).", ""]
    header = ["dimension", "evidence precision", "evidence recall", "sign accuracy", "kappa", "rated cells"]
    if last:
        header.append(f"round {last} alone: precision (cells)")
    rows = []
    for dim in t["dimensions_rated"]:
        d = t["dimensions"][str(dim)]
        row = [f"{dim} {d['name']}", num(d["evidence_precision"], 2), num(d["evidence_recall"], 2),
               num(d["sign_accuracy"], 2), num(d["kappa"], 2), d["annotator_cells"]]
        if last:
            x = rounds[last]["dimensions"].get(str(dim), {})
            row.append(f"{num(x.get('evidence_precision'), 2)} ({x.get('annotator_cells', 0)})")
        rows.append(row)
    out += table(header, rows)
    p = t["pair_directions"]
    out += [f"Pair directions on the reference pairs: {p['direction_accuracy']} agree with the labellers where both "
            f"give one, covering {pct(p['direction_coverage'])}% of the labelled directions.", ""]
    out += ["Relative rules against the per-comment rule, over pairs of test items labelled at different levels:", ""]
    out += table(["dimension", "labelled item pairs", "per-comment rule: accuracy / coverage",
                  "relative rule: accuracy / coverage"],
                 [[dim, num(x["labelled_pairs"]),
                   f"{x['per_comment_rule']['direction_accuracy']} / {x['per_comment_rule']['direction_coverage']}",
                   f"{x['relative_rule']['direction_accuracy']} / {x['relative_rule']['direction_coverage']}"]
                  for dim, x in t["item_pairs"].items()])
    a = r["labeller_agreement"]
    out += [f"Labellers' agreement ({a['items']} items labelled twice, blind; dimensions left out: "
            f"{', '.join(map(str, a['left_out'])) or 'none'}): kappa "
            + ", ".join(f"{g} {x['kappa_three_class']}" for g, x in a["groups"].items())
            + "; on the sibling pairs ("
            + ", ".join(f"dimension {d}: kappa {x['kappa_three_class']}, {x['opposite']} in opposite directions"
                        for d, x in a["pairs"]["dimensions"].items())
            + f", {a['pairs']['pairs']} pairs).", ""]
    ps = r["p_soups"]
    out += [f"P-SOUPS student / PhD ({ps['pairs']} pairs; ties count as misses):", ""]
    out += table(["dimension", "pair accuracy", "ties", "accuracy where not tied", "per-comment rule"],
                 [[f"{x['dimension']} {name.replace('_', ' ')}", x["pair_accuracy"], x["ties"],
                   num(x["non_tied_accuracy"]), x["per_comment_rule_accuracy"]]
                  for name, x in ps.items() if isinstance(x, dict)])
    out += ["Sparsity of two builds:", ""]
    rows = []
    for name, b in r["builds"].items():
        def mm(key):
            return f"{num(b[key]['median'], 1)} / {b[key]['max']}"
        ic = b["interest_correlation_across_comments"]
        rows.append([f"{name} ({num(b['comments'])} comments, {b['reddit_examples']} Reddit examples)",
                     mm("non_neutral_per_comment"), mm("non_neutral_per_target_pair_direction"),
                     mm("non_neutral_per_pair_history_item"), mm("traits_per_demographic_information"),
                     f"{ic['mean_pairwise']} (max {ic['max_pairwise']}); {ic['varying_dimensions']}"])
    out += table(["build", "non-neutral dims per comment (median / max)", "per target pair direction",
                  "per PAIR item", "traits per Demographic Information", "interest correlation (mean pairwise; "
                  "dims that vary)"], rows)
    rows = []
    for name, b in r["builds"].items():
        rel = b["relative_dimensions_on_target_pairs"]
        rows.append([name] + [f"{pct(rel[d]['directed'])}% ({pct(rel[d]['towards_label_0'])}% to label_0)"
                              for d in ("14", "16", "46")]
                    + [f"{pct(rel['46_follows_16_given_both'])}%"])
    out += ["Relative dimensions on the target pairs (share with a direction, and of those towards label_0):", ""]
    out += table(["build", "14 depth of interaction", "16 concise / detailed", "46 complexity",
                  "46 and 16 agree where both have one"], rows)
    th = r["throughput"]
    out += [f"Throughput of the offline annotator ({num(th['texts'])} real r/ethereum comments, uncached, one process, "
            f"{th['cpus']} cores, load average {', '.join(map(str, th['load_average']))}): "
            f"{num(th['end_to_end_texts_per_second'], 1)} comments/s end to end (model load, rating, cache), "
            f"{num(th['offline_annotator_texts_per_second'], 1)}/s rating alone; baselines in the same run: VADER "
            f"alone {num(th['baseline_vader_only_texts_per_second'], 1)}/s, the per-text textstat grade "
            f"{num(th['baseline_textstat_grade_texts_per_second'], 1)}/s.", ""]
    return out


def annotate(r: dict) -> list[str]:
    v, t = r["validity_p_soups"], r["throughput_openai_backend"]
    out = ["## Annotate benchmark", "",
           "`python -m bench annotate` -> `bench/results/annotate.json`: P-SOUPS student / PhD pairs "
           f"({v['pairs']}) against a pole-similarity baseline, and the OpenAI-compatible backend against the local "
           "test server.", ""]
    out += table(["dimension", "annotator", "where not tied", "ties", "pole-similarity baseline"],
                 [[f"{x['dimension']} {k.replace('_', ' ')}", x["embedding_annotator"],
                   x["embedding_annotator_non_tied"], x["ties"], x["pole_similarity_baseline"]]
                  for k, x in v.items() if isinstance(x, dict)])
    out += [f"OpenAI backend: {num(t['requests'])} requests at concurrency {t['concurrency']} against a server "
            f"answering in {t['latency_s']} s: {t['requests_per_second']} requests/s, {pct(t['share_of_ceiling'])}% of "
            f"the {num(t['ceiling_requests_per_second'], 0)}/s ceiling (target {pct(t['target_share_of_ceiling'])}%); "
            f"{t['client_cpu_ms_per_request']} ms of client CPU per request.", ""]
    return out


def annotate_estimate(r: dict) -> list[str]:
    d, one, t = r["default"], r["one_comment_a_request"], r["targets"]
    out = ["## LLM annotation estimate", "",
           f"`python -m bench annotate_estimate` -> `bench/results/annotate_estimate.json`: `alignx annotate --estimate` "
           f"with `{d['annotator']}` on {r['corpus']} (commit {r['commit']}, {r['date']}); nothing sent. Input tokens "
           f"{d['tokenizer']}; output tokens: the sparse answers the reference set's labels give. Targets (issue 29): "
           f"at most {num(t['tokens_in_per_comment_max'])} input and {num(t['tokens_out_per_comment_max'])} output "
           f"tokens per rated comment.", ""]
    out += table(["comments per request", "comments", "skipped (cannot enter the dataset)", "rated", "requests",
                  "tokens in", "of them the shared prefix", "tokens out", "in / comment", "out / comment", "cost"],
                 [[f"at most {e['items_per_request']}", num(e["items"]), f"{num(e['skipped'])} ({pct(e['skipped_share'])}%)",
                   num(e["to_send"]), num(e["requests"]), num(e["tokens_in"]), num(e["prefix_tokens_in"]),
                   num(e["tokens_out"]), num(e["tokens_in_per_comment"], 1), num(e["tokens_out_per_comment"], 1),
                   f"${e['cost_usd']:.2f}"] for e in (d, one)])
    out += [f"Costs at the default prices, no prompt-cache discount; with the Batch API: ${r['batch_cost_usd']:.2f}. "
            f"Targets met: {'yes' if r['meets_targets'] else 'no'}.", ""]
    return out


def embeddings(r: dict, gpu: dict | None) -> list[str]:
    out = ["## Embeddings", "", f"`python -m bench embeddings` -> `bench/results/embeddings.json`: {r['texts']}, "
           f"mean {num(r['mean_chars'], 0)} characters, every text computed (no cache), {r['device']}, load average "
           f"{r['load_average_at_start']} at start; agreement with `{r['reference']}` (pairwise-cosine Spearman, "
           "10-nearest-neighbour overlap, the per-dimension annotator score's Pearson correlation, median and 10th "
           "percentile, and the share of equal ratings).", ""]
    rows = []
    for name, m in r["models"].items():
        a = m.get("agreement_with_reference") or {}
        pearson = (f"{num(a['anchor_score_pearson_median'], 2)} ({num(a.get('anchor_score_pearson_p10'), 2)})"
                   if "anchor_score_pearson_median" in a else "-")
        rows.append([name, m["dim"], num(m["load_seconds"], 2), num(m["comments_per_s"], 1),
                     f"{m['speedup']}x" if "speedup" in m else "-", num(a.get("pair_cosine_spearman")),
                     num(a.get("knn10_overlap")), pearson, num(a.get("rating_agreement"))])
    out += table(["model", "dim", "load s", "comments/s", "speed-up", "pair cosine Spearman", "10-NN overlap",
                  "annotator score Pearson, median (p10)", "rating agreement"], rows)
    c = r.get("corpus")
    if c:
        out += [f"Repeats: of the {num(c['usable_bodies'])} usable comment bodies of the r/ethereum corpus "
                f"({num(c['comments'])} comments), {num(c['distinct_usable_bodies'])} are distinct: "
                f"{pct(c['repeated_share'])}% repeat.", ""]
    if gpu:
        out += [f"On a GPU (`bench/gpu_embeddings.py` -> `bench/results/gpu_embeddings.json`; {gpu['gpu']}, "
                f"{gpu['cpus']} CPU cores, torch {gpu['torch']}; {gpu['texts']}): {gpu['note']}", ""]
        out += table(["device", "dtype", "max tokens", "batch", "texts/s"],
                     [[x["device"] + (f" ({x['torch_threads']} threads)" if "torch_threads" in x else ""), x["dtype"],
                       x["max_seq_length"], x["batch_size"], num(x["texts_per_second"], 1)] for x in gpu["runs"]])
    return out


def cluster(r: dict) -> list[str]:
    t = r["targets"]
    out = ["## Cluster", "", "`python -m bench cluster` -> `bench/results/cluster.json`: real demo embeddings "
           f"replicated with noise, through the stage's own functions; the baseline is hdbscan's approximate_predict "
           f"on 10,000 of the same points. Target: {num(t['points'])} points in at most {t['total_s_max']} s and "
           f"{num(t['peak_rss_mb_max'])} MB.", ""]
    out += table(["points", "fit sample", "fit s", "assign s", "total s", "assign ms/point",
                  "approximate_predict ms/point", "speed-up", "same label", "topics", "noise", "peak MB"],
                 [[num(x["points"]), num(x["fit_sample"]), x["fit_s"], x["assign_s"], x["total_s"],
                   x["assign_ms_per_point"], x.get("approximate_predict_ms_per_point"),
                   x.get("assign_speedup_vs_approximate_predict"), x.get("same_label_share"), x["topics"],
                   x["noise_share"], num(x["peak_rss_mb"], 0)] for x in r["runs"]])
    return out


def alignment(r: dict) -> list[str]:
    out = ["## Alignment histories", "", "`python -m bench alignment` -> `bench/results/alignment.json`: assemble's "
           "`alignment_histories` (each user type ranked once) against the rule it replaced (each pair's pool ranked "
           f"again), on the same pairs of {r['user_types']} user types; the old rule only where it finishes. Target: "
           f"time a pair at most {r['targets']['per_pair_ratio_max']}x from the smallest size to the largest "
           f"({'met' if r['met'] else 'not met'}: {r['per_pair_ratio_largest_to_smallest']}x).", ""]
    out += table(["pairs", "seconds", "µs a pair", "old rule, seconds", "speed-up"],
                 [[num(x["pairs"]), x["stage_s"], x["stage_us_per_pair"], x.get("plain_s", "-"), x.get("speedup", "-")]
                  for x in r["runs"]])
    return out


def scale(r: dict) -> list[str]:
    sys.path.insert(0, str(ROOT))
    from bench.scale import BEGIN, END, render_summary, summarize

    out = {**r, "corpora": {k: {**c, **summarize(c)} for k, c in r.get("corpora", {}).items()}}
    lines = [x for x in render_summary(out).splitlines() if x not in (BEGIN, END)]
    return ["## Scale", "", "`python -m bench scale` -> `bench/results/scale.json`: every stage, dumps to release, "
            "on the real r/ethereum corpus and synthetic corpora; docs/scaling.md has the per-stage tables and the "
            "projection to AlignX's size (generated by bench/scale.py from the same file).", *lines]


def steer(r: dict) -> list[str]:
    out = ["## Steering the yield", "", "`python -m bench steer` -> `bench/results/steer.json`: assemble and emit rerun "
           f"on the whole r/ethereum corpus ({num(r['comments_read'])} comments read), one of assemble's settings "
           "changed at a time (docs/stages/assemble.md says what each does).", ""]
    out += table(["setting", "release rows", "train", "test", "test targets", "users with targets",
                  "rows per million comments", "comments for 1.3M rows"],
                 [[x["setting"], num(x["release_rows"]), num(x["train_rows"]), num(x["test_rows"]),
                   num(x["test_targets"]), num(x["users_with_targets"]), num(x["rows_per_million_comments"], 0),
                   num(r["comments_for_1_3_million_rows"].get(x["setting"]))] for x in r["variants"]])
    return out


def evaluate_trained(r: dict) -> list[str]:
    out = ["## Evaluate: does the data teach personalization?", "",
           "`python -m bench.evaluate_trained` -> `bench/results/evaluate_trained.json`, one entry per run, newest "
           "first. Accuracy % [95% cluster-bootstrap interval over distinct items]; gain = trained minus "
           "no-persona, in points, with its paired interval. The paper's published figures, printed beside ours in every report, are in stages/evaluate/report.py.", ""]
    for run in reversed(r["runs"]):
        out += [f"### {run['built_from']}", "",
                f"Train {num(run['train_examples'])} examples ({num(run['train_reddit_examples'])} from Reddit), "
                f"test {num(run['test_targets'])} targets; training {run['training_s']} s"
                + (f"; build {run['build_s']} s" if "build_s" in run else "") + ".", ""]
        rows = []
        for name, ds in run["datasets"].items():
            res = {(x["predictor"], x["persona"]): x for x in ds["results"]}

            def acc(pred: str, persona: str = "all") -> str:
                x = res.get((pred, persona))
                return "-" if x is None else f"{pct(x['accuracy'])}{ci(x.get('ci95'))}"

            gains = {g["persona"]: g for g in ds.get("persona_gain", [])}
            gain = "; ".join(f"{p} {100 * g['gain']:+.1f}{ci(g.get('ci95'))}" for p, g in gains.items())
            leak = ds.get("leakage") or "-"
            if isinstance(leak, dict):  # since evaluate v6 the whole audit, before only its status
                leak = leak["status"] + (f" (DEMO recall {pct(leak['demo_text_recall'])}%, history as DEMO "
                                         f"{pct(leak['history_as_demo_recall'])}%)" if "demo_text_recall" in leak else "")
            rows.append([f"{name} ({num(ds['examples'])} rows, {num(ds.get('distinct_items'))} distinct)",
                         acc("trained"), acc("no-persona"), gain or "-", acc("length"), acc("independent"),
                         acc("profile"), f"{pct(ds.get('chosen_longer_share'))}%",
                         len(ds.get("shortcut_flags", [])), leak])
        out += table(["dataset", "trained, all", "no-persona", "gain per persona", "length", "independent, all",
                      "profile (consistency), all", "chosen is longer", "shortcut flags", "leakage audit"], rows)
    return out


def reliability(r: dict) -> list[str]:
    out = ["## Reliability", "", "`make reliability` (scripts/reliability.py) -> `bench/results/reliability.json`: "
           f"every multi-shard stage killed mid-way and rerun; passed: **{r['passed']}**.", ""]
    out += table(["stage", "shards", "killed after", "resumed", "release identical"],
                 [[x["stage"], x.get("shards", "-"), x.get("killed_after", f"corrupted part {x.get('corrupted_part')}"),
                   x["resumed"], x["release_identical"]] for x in r["runs"]])
    return out


def ray_cluster(r: dict) -> list[str]:
    names = [n["node"] for n in r.get("nodes", [])] or ["head", "worker1", "worker2"]
    out = ["## A multi-node Ray build", "",
           "`make ray-cluster` (scripts/ray_cluster_check.py) -> `bench/results/ray_cluster.json`: a head and "
           f"{len(names) - 1} worker nodes started with `ray start` on one machine ({len(names)} raylets on "
           f"{r['host']}, {r['cpus_per_node']} CPU each, Ray {r['ray_version']}), the demo build submitted with "
           "`alignx run --engine ray --ray-address`, and the same build run locally. Release identical to the "
           f"local build: **{r['identical']}** ({r.get('release', {}).get('files', 0)} files compared byte for byte). "
           f"Shards ran on {r.get('nodes_used', 0)} of {len(names)} nodes; a stage not listed ran in the driver "
           "(one shard, or a serial stage).", ""]
    rows = [[stage, *[per.get(n, 0) for n in names]] for stage, per in r.get("shards_per_node", {}).items()]
    rows.append(["**total**", *[r.get("tasks_per_node", {}).get(n, 0) for n in names]])
    out += table(["stage", *names], rows)
    out += [f"Local build {num(r.get('local_s'), 1)} s; Ray build {num(r.get('ray_s'), 1)} s, after starting the "
            f"cluster in {num(r.get('cluster_start_s'), 1)} s; the whole check {num(r.get('total_s'), 1)} s, on "
            f"{r['cores']} cores, load average {r['load_average_1m']} ({r['measured']}).", ""]
    return out


def render() -> str:
    lines = ["# Measured figures", "",
             "<!-- generated by scripts/make_figures.py from bench/results/*.json: do not edit; run `make figures` -->",
             "", "Every figure below is read from a results file in `bench/results/`, written by the benchmark "
             "named in its section (`make bench` runs them all, then regenerates this page). Seconds depend on the "
             "machine and its load; each file records both where the benchmark did.", ""]
    sections = [("ingest", ingest), ("language_id", language_id), ("privacy", privacy),
                ("annotator_validity", annotator_validity), ("annotate", annotate),
                ("annotate_estimate", annotate_estimate), ("cluster", cluster), ("alignment", alignment),
                ("scale", scale), ("steer", steer), ("evaluate_trained", evaluate_trained), ("reliability", reliability),
                ("ray_cluster", ray_cluster)]
    for name, fn in sections:
        r = load(name)
        if r is not None:
            lines += fn(r)
    emb = load("embeddings")
    if emb is not None:
        lines += embeddings(emb, load("gpu_embeddings"))
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/figures.md is out of date")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not PAGE.exists() or PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is out of date with bench/results/: run `make figures`")
            return 1
        return 0
    PAGE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
