"""Stage ``evaluate``: how well each kind of persona predicts preferences, on the release just
built and on benchmark files; also ``alignx evaluate PATH ...``.

Config section ``[evaluate]``. Upstream: ``emit``. Inputs: ``evaluate.benchmarks``.
Outputs per dataset (``release`` and each benchmark's file stem): ``<name>/report.json``,
``<name>/report.md`` (with the published numbers beside ours, labelled as published, and the
leakage audit) and ``<name>/accuracy.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

from stages.annotate.embedding import EmbeddingAnnotator
from alignx.embeddings import EmbeddingCache
from pipeline.errors import UserError
from stages.evaluate.predictors import (
    EmbeddingPredictor, JudgePredictor, LengthPredictor, LogprobPredictor, ProfilePredictor, RandomPredictor, chart,
    evaluate, leakage, load_examples, markdown_report,
)
from pipeline.logs import get_logger
from pipeline.stage import Shard, Stage, StageContext, Stats

log = get_logger("evaluate")


def judge_settings(config) -> dict:
    """The llm-judge's endpoint: annotate's key and sampling, evaluate's model and URL."""
    a, p = config.section("annotate"), config.section("evaluate")
    return {**a, "backend": "llm-judge", "model": p["judge_model"], "base_url": p["judge_base_url"] or a["base_url"]}


def make_predictors(config, cache_dir: Path | None):
    """The predictors named in evaluate.predictors, built from the config."""
    p = config.section("evaluate")
    names, model, seed = p["predictors"], p["embedding_model"], config["run.seed"]
    out = []
    for name in names:
        if name == "profile":
            out.append(ProfilePredictor(EmbeddingAnnotator(model, cache_dir)))
        elif name == "embedding":
            out.append(EmbeddingPredictor(EmbeddingCache(cache_dir, model)))
        elif name == "length":
            out.append(LengthPredictor())
        elif name == "random":
            out.append(RandomPredictor(seed))
        elif name == "llm-judge":
            out.append(JudgePredictor(judge_settings(config)))
        else:
            if not p["policy_model"] or not p["reference_model"]:
                raise UserError("evaluate.predictors has \"logprob\": set evaluate.policy_model and "
                                "evaluate.reference_model (Hugging Face names or local paths)")
            out.append(LogprobPredictor.from_pretrained(
                p["policy_model"], p["reference_model"], beta=p["logprob_beta"],
                max_length=p["logprob_max_length"], batch_size=p["logprob_batch_size"]))
    return out


def write_report(name: str, examples: list[dict], predictors, margin: float, out: Path,
                 benchmark: bool) -> dict:
    cells = evaluate(examples, predictors)
    warnings = leakage(cells, margin)
    for w in warnings:
        log.warning("%s: %s", name, w)
    out.mkdir(parents=True, exist_ok=True)
    report = {"dataset": name, "examples": len(examples), "results": [c.to_json() for c in cells],
              "leakage_warnings": warnings,
              "judge_invalid_answers": {pr.name: pr.invalid for pr in predictors if hasattr(pr, "invalid")},
              "judge_requests": {pr.name: pr.requests for pr in predictors if hasattr(pr, "requests")}}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown_report(name, cells, warnings, benchmark), encoding="utf-8")
    chart(cells, out / "accuracy.png", f"Alignment accuracy: {name}")
    return report


class Evaluate(Stage):
    name = "evaluate"
    version = "1"
    upstream = ("emit",)
    unit = "examples"
    reads = ("annotate",)  # the annotator the profile predictor re-rates responses with
    input_keys = ("evaluate.benchmarks",)
    parallel = False
    description = "alignment accuracy per persona type, leakage audit"

    def shards(self, ctx: StageContext) -> list[Shard]:
        return [Shard("release")] + [Shard(f"benchmark-{p.stem}", (str(p),)) for p in ctx.inputs]

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        p = ctx.params
        if shard.inputs:
            path, name, benchmark = Path(shard.inputs[0]), Path(shard.inputs[0]).stem, True
        else:
            test = ctx.upstream_files("emit", "release")
            path, name, benchmark = Path(next(f for f in test if f.name.startswith("test-"))).parent, "release", False
        examples = load_examples(path)
        predictors = make_predictors(ctx.config, ctx.data_dir / "cache" / "embeddings")
        report = write_report(name, examples, predictors, p["leakage_margin"], out_dir / name, benchmark)
        stats = Stats(records_in=len(examples), records_out=len(examples))
        stats.counts["leakage_warnings"] = len(report["leakage_warnings"])
        for r in report["results"]:
            stats.counts[f"accuracy.{name}.{r['predictor']}.{r['persona']}"] = r["accuracy"]
        return stats

    def summary(self, manifest: dict) -> str:
        acc = {k: v for k, v in manifest.get("counts", {}).items() if k.startswith("accuracy.release.profile.")}
        return ", ".join(f"profile/{k.rsplit('.', 1)[1]} {v:.2f}" for k, v in sorted(acc.items()))
