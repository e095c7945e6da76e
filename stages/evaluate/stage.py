"""Stage ``evaluate``: how well each kind of persona predicts preferences, on the release just
built and on benchmark files; also ``alignx evaluate PATH ...``.

Config section ``[evaluate]``. Upstream: ``emit``. Inputs: ``evaluate.benchmarks``.
Outputs per dataset (``release`` and each benchmark's file stem): ``<name>/report.json``,
``<name>/report.md``, ``<name>/accuracy.png`` and, with the trained predictor,
``<name>/trained_head.npz`` + ``trained_head.json`` (the head fitted on the release's train split).
Modules: ``predictors`` (the untrained predictors: ``profile`` with the annotator that built the
pairs, ``independent`` with the other embedding model), ``trained`` (the fitted head and its
no-persona twin), ``intervals``, ``leakage`` (the audit), ``report``.
"""

from __future__ import annotations

from pathlib import Path

from alignx.embeddings import EmbeddingCache
from pipeline.errors import UserError
from pipeline.logs import get_logger
from pipeline.stage import Shard, Stage, StageContext, Stats, keys
from annotators.embedding import EmbeddingAnnotator
from stages.evaluate.predictors import (
    EmbeddingPredictor, IndependentPredictor, JudgePredictor, LengthPredictor, LogprobPredictor, PositionPredictor, ProfilePredictor,
    RandomPredictor, load_examples, load_rows,
)
from stages.evaluate.report import write_report
from stages.evaluate.trained import Heads, TrainedPredictor, load_or_fit

log = get_logger("evaluate")
PREDICTORS = ("profile", "independent", "embedding", "trained", "no-persona", "length", "position", "random", "llm-judge", "logprob")
#: In every report whatever evaluate.predictors says: a persona predictor must beat them.
ALWAYS = ("length", "position")


def judge_settings(config) -> dict:
    """The llm-judge's endpoint: annotate's key and sampling, evaluate's model and URL."""
    a, p = config.section("annotate"), config.section("evaluate")
    return {**a, "backend": "llm-judge", "model": p["judge_model"], "base_url": p["judge_base_url"] or a["base_url"]}


def annotator_models(config) -> tuple[str, str]:
    """(the embedding model of the annotator that built the pairs, the independent predictor's).

    ``evaluate.independent_model`` = "" picks the other of the two bundled models: full MiniLM
    when the release was annotated with its static distillation, the static one otherwise."""
    from alignx.embeddings import DEFAULT_MODEL, STATIC_MODEL

    same = config["annotate.embedding_model"]
    other = config["evaluate.independent_model"] or (DEFAULT_MODEL if same.startswith(STATIC_MODEL) else STATIC_MODEL)
    if other == same:
        raise UserError(f"evaluate.independent_model = \"{other}\" is the annotator's own model "
                        "(annotate.embedding_model): the independent predictor needs another; leave it \"\"")
    return same, other


def train_files_of(path: Path) -> list[Path]:
    """The train shards of a release folder (``train-*.parquet``), or none."""
    path = Path(path)
    return sorted(path.glob("train-*.parquet")) if path.is_dir() else []


def has_rows(files: list[Path]) -> bool:
    import polars as pl

    return any(pl.scan_parquet(f).select(pl.len()).collect().item() for f in files)


class Predictors:
    """The predictors named in evaluate.predictors (plus the shortcut baselines), built once and
    reused across datasets; ``heads`` holds the trained head when one was fitted."""

    def __init__(self, config, cache_dir: Path | None, train_files: list[Path], names: list[str] | None = None):
        """``cache_dir``: data/cache (embeddings in ``embeddings/``, fitted heads in ``trained/``)."""
        p = config.section("evaluate")
        explicit = names is not None  # named on the command line: a missing train split is an error
        names = list(names if names is not None else p["predictors"])
        unknown = [n for n in names if n not in PREDICTORS]
        if unknown:
            raise UserError(f"evaluate.predictors: unknown '{unknown[0]}'; choose from {', '.join(PREDICTORS)}")
        if "trained" in names or "no-persona" in names:  # one fit gives both; each is meaningless alone
            names += [n for n in ("trained", "no-persona") if n not in names]
        names += [n for n in ALWAYS if n not in names]
        model, seed = p["embedding_model"], config["run.seed"]
        emb_dir = None if cache_dir is None else Path(cache_dir) / "embeddings"
        self.embedder = EmbeddingCache(emb_dir, model)
        same, other = annotator_models(config)
        max_interests = config["annotate.offline_max_interests"]
        # the annotator that oriented the pairs (consistency); also the leakage audit's
        self.profile = ProfilePredictor(EmbeddingAnnotator(same, emb_dir, max_interests=max_interests))
        self.heads: Heads | None = None
        self.skipped: dict[str, str] = {}  # predictor -> why it did not run
        if ("trained" in names) and not has_rows(train_files) and not explicit:
            for n in ("trained", "no-persona"):
                self.skipped[n] = "no train split to fit on (evaluate a release folder or pass --train RELEASE_DIR)"
            names = [n for n in names if n not in self.skipped]
        self.items = []
        for name in dict.fromkeys(names):
            if name == "profile":
                self.items.append(self.profile)
            elif name == "independent":
                self.items.append(IndependentPredictor(EmbeddingAnnotator(other, emb_dir, max_interests=max_interests)))
            elif name == "embedding":
                self.items.append(EmbeddingPredictor(self.embedder))
            elif name in ("trained", "no-persona"):
                if self.heads is None:
                    self.heads = self._fit(p, cache_dir, train_files, seed)
                self.items.append(TrainedPredictor(self.heads, self.embedder, with_persona=name == "trained"))
            elif name == "length":
                self.items.append(LengthPredictor())
            elif name == "position":
                self.items.append(PositionPredictor())
            elif name == "random":
                self.items.append(RandomPredictor(seed))
            elif name == "llm-judge":
                self.items.append(JudgePredictor(judge_settings(config)))
            else:
                if not p["policy_model"] or not p["reference_model"]:
                    raise UserError("evaluate.predictors has \"logprob\": set evaluate.policy_model and "
                                    "evaluate.reference_model (Hugging Face names or local paths)")
                self.items.append(LogprobPredictor.from_pretrained(
                    p["policy_model"], p["reference_model"], beta=p["logprob_beta"],
                    max_length=p["logprob_max_length"], batch_size=p["logprob_batch_size"]))

    def _fit(self, p: dict, cache_dir: Path | None, train_files: list[Path], seed: int) -> Heads:
        if not has_rows(train_files):
            raise UserError("predictor trained needs a release's train split: evaluate a release folder, pass "
                            "--train RELEASE_DIR, or leave trained out of --predictors")
        heads = load_or_fit(train_files, load_rows, self.embedder, cache_dir, c=p["trained_c"],
                            max_examples=p["trained_max_examples"], seed=seed)
        log.info("trained head: %s train examples, %s (embed %ss, fit %ss)", heads.meta["train_examples"],
                 "cached" if heads.meta.get("cached") else "fitted", heads.meta["embed_seconds"],
                 heads.meta["fit_seconds"])
        return heads

    def report(self, name: str, examples: list[dict], out: Path, *, benchmark: bool, config) -> dict:
        p = config.section("evaluate")
        report = write_report(name, examples, self.items, self.profile, out, benchmark=benchmark,
                              margin=p["leakage_margin"], resamples=p["bootstrap_resamples"], seed=config["run.seed"],
                              heads=self.heads, not_run=self.skipped)
        for line in report["shortcut_flags"] + report["leakage_warnings"]:
            log.warning("%s: %s", name, line)
        return report


class Evaluate(Stage):
    name = "evaluate"
    #: 4: the profile predictors' pair directions compare raw measures on 14/16/46, as assemble's do
    #: 5: the leakage audit compares DEMO with the history summarized by DEMO's own rule
    #: (alignx.persona.traits), not the raw history profile; 6: and flags rows whose DEMO is not that
    #: summary when, on them, DEMO recalls more of the target (a partial leak)
    version = "6"
    upstream = ("emit",)
    input_keys = ("evaluate.benchmarks",)
    uses = ("run.seed", *keys("evaluate", "predictors", "trained_c", "trained_max_examples", "bootstrap_resamples",
                              "judge_model", "policy_model", "reference_model", "logprob_beta", "logprob_max_length",
                              "logprob_batch_size", "leakage_margin", "embedding_model", "independent_model"),
            # the annotator the profile predictor re-rates responses with; the judge's sampling
            *keys("annotate", "embedding_model", "offline_max_interests", "temperature", "sampling_seed"))
    tunes = ("evaluate.judge_base_url", *keys("annotate", "base_url", "api_key_env", "timeout_s", "max_retries"))
    parallel = False
    description = "alignment accuracy per persona type, a trained predictor and its no-persona twin, shortcut " \
                  "baselines, leakage audit"

    def fingerprint_extra(self, config, data_dir: Path) -> dict[str, str]:
        # the profile predictors and the leakage audit score with the orientation rule
        from alignx.orientation import code_fingerprint

        return {"orientation_code": code_fingerprint()}

    def shards(self, ctx: StageContext) -> list[Shard]:
        return [Shard("release")] + [Shard(f"benchmark-{p.stem}", (str(p),)) for p in ctx.inputs]

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        release = ctx.upstream_files("emit", "release")
        train = sorted(f for f in release if f.name.startswith("train-"))
        if shard.inputs:
            path, name, benchmark = Path(shard.inputs[0]), Path(shard.inputs[0]).stem, True
        else:
            path, name, benchmark = Path(next(f for f in release if f.name.startswith("test-"))).parent, "release", False
        examples = load_examples(path)
        predictors = Predictors(ctx.config, ctx.data_dir / "cache", train)
        report = predictors.report(name, examples, out_dir / name, benchmark=benchmark, config=ctx.config)
        stats = Stats(records_in=len(examples), records_out=len(examples))
        stats.counts["leakage_warnings"] = len(report["leakage_warnings"])
        stats.counts["shortcut_flags"] = len(report["shortcut_flags"])
        for r in report["results"]:
            stats.counts[f"accuracy.{name}.{r['predictor']}.{r['persona']}"] = r["accuracy"]
        return stats

    def summary(self, manifest: dict) -> str:
        counts = manifest.get("counts", {})
        acc = {k: v for k, v in counts.items() if k.startswith("accuracy.release.") and k.endswith(".all")}
        return ", ".join(f"{k.split('.')[2]}/all {v:.2f}" for k, v in sorted(acc.items())) + \
            f"; {counts.get('shortcut_flags', 0)} shortcut flags, {counts.get('leakage_warnings', 0)} leakage warnings"
