"""Stage ``emit``: the release a researcher downloads, in ``data/release/<version>/``.

Config section ``[emit]``. Upstream: ``assemble`` (examples), ``cluster`` (heatmap),
``annotate`` (annotator, usage), ``ingest_alignment`` (source counts).

Files: ``train-NNNNN-of-NNNNN.parquet`` / ``test-...`` shards (``emit.shard_rows`` rows each)
with the AlignX field names exactly (``prompt``, ``chosen``, ``rejected``, ``Preference
Direction``, ``Demographic Information``, ``User-Generated Content``, ``Pair-wise
Comparative Feedback``) plus ``id`` (stable hash of the example's sources), ``source`` and
``persona_type``; ``schema.json`` (JSON Schema of a row); ``README.md`` (dataset card with
Hugging Face YAML metadata); ``correlation_heatmap.png``; ``checksums.sha256``. Every text is
scanned once more by the scrubber's regex layers before release (``scrubbed.<kind>`` counts).

Assemble's examples are read ``BATCH_ROWS`` at a time, in id order (the release's), so no
split is held whole: each shard is written a row group at a time as its rows arrive
(``ShardWriter``), and the card's and the bias report's figures are counted batch by batch.

The same files are written under the stage's work folder (tracked by its manifest) and then
copied to ``data/release/<version>/`` through a temporary folder and a rename.
"""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Iterator

import polars as pl

from stages.emit.bias import SplitBias, flags, plots, user_poles
from stages.emit.summary import SplitSummary
from pipeline.errors import StageFailed
from pipeline.io import parquet_batches, parquet_rows, parquet_writer, sha256_file
from alignx.privacy import ScrubRules, Scrubber
from pipeline.stage import Shard, Stage, StageContext, Stats, keys
from alignx.taxonomy import load_taxonomy
from annotators import backend, label
from annotators.validity import PUBLISHED, published

RELEASE_FIELDS = ("id", "source", "persona_type", "prompt", "chosen", "rejected", "Preference Direction",
                  "Demographic Information", "User-Generated Content", "Pair-wise Comparative Feedback",
                  *("score_ratio", "seconds_between", "length_ratio"))
#: Community signals after the AlignX fields (ComPRed's): chosen's score / rejected's (null unless
#: both >= 1), chosen's time - rejected's in seconds, chosen's length / rejected's; null for
#: alignment-dataset rows.
COMMUNITY_FIELDS = ("score_ratio", "seconds_between", "length_ratio")
#: Examples read, converted and counted at a time. emit never holds a whole split: the release
#: shards are written as their rows arrive and the card and the bias report are running counts
#: (stages/emit/summary.py, bias.py), so its memory is one batch, one shard (``emit.shard_rows``)
#: and a few numbers per user and per distinct text. A test lowers it to cut shards across batches.
BATCH_ROWS = 1_000
LICENCES = [
    ("Reddit comments and posts", "Reddit User Agreement / Data API Terms; redistributed as pseudonymized, "
     "scrubbed text for research"),
    ("PKU-SafeRLHF", "CC-BY-NC-4.0: non-commercial use only, which restricts the whole mix"),
    ("UltraFeedback", "MIT"),
    ("HelpSteer2", "CC-BY-4.0"),
]


def release_dir(config, data_dir: Path) -> Path:
    """Where the release of the configured version (``emit.version``) lives: the one rule emit,
    ``alignx verify``, ``alignx audit-privacy``, the benchmarks and the tests use."""
    return Path(data_dir) / "release" / config["emit.version"]


def to_release(df: pl.DataFrame, scrubber: Scrubber, scrubbed: Counter) -> pl.DataFrame:
    """Assemble's columns -> the AlignX field names, every text scrubbed once more."""
    def clean(text):
        out, counts = scrubber.scrub(text)
        scrubbed.update(counts)
        return out

    rows = []
    for r in df.iter_rows(named=True):
        rows.append({
            "id": r["id"], "source": r["source"] if r["source"] == "reddit" else r["user_type"],
            "persona_type": r["persona_type"], "prompt": clean(r["prompt"]), "chosen": clean(r["chosen"]),
            "rejected": clean(r["rejected"]), "Preference Direction": r["direction"],
            "Demographic Information": clean(r["demographic"]),
            "User-Generated Content": [{"prompt": clean(u["prompt"]), "comment": clean(u["comment"]),
                                        "Preference Direction": u["Preference Direction"]} for u in r["ugc"]],
            "Pair-wise Comparative Feedback": [
                {"prompt": clean(x["prompt"]), "chosen": clean(x["chosen"]), "rejected": clean(x["rejected"]),
                 "Preference Direction": x["Preference Direction"]} for x in r["pair"]],
            **{k: r[k] for k in COMMUNITY_FIELDS},
        })
    return pl.DataFrame(rows, schema=_RELEASE_SCHEMA)


#: The polars schema of a release shard; the last three are the community signals (``COMMUNITY_FIELDS``).
_RELEASE_SCHEMA = {
    "id": pl.String, "source": pl.String, "persona_type": pl.String, "prompt": pl.String, "chosen": pl.String,
    "rejected": pl.String, "Preference Direction": pl.List(pl.Float32), "Demographic Information": pl.String,
    "User-Generated Content": pl.List(pl.Struct({"prompt": pl.String, "comment": pl.String,
                                                 "Preference Direction": pl.List(pl.Float32)})),
    "Pair-wise Comparative Feedback": pl.List(pl.Struct({"prompt": pl.String, "chosen": pl.String,
                                                         "rejected": pl.String,
                                                         "Preference Direction": pl.List(pl.Float32)})),
    "score_ratio": pl.Float64, "seconds_between": pl.Int64, "length_ratio": pl.Float64,
}


def json_schema() -> dict:
    direction = {"type": "array", "items": {"enum": [0, 0.5, 1]}, "minItems": 90, "maxItems": 90}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "AlignX example",
        "type": "object",
        "required": list(RELEASE_FIELDS),
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^ax-[0-9a-f]{20}(-(ugc|pair|demo|all))?$"},
            "source": {"type": "string"},
            "persona_type": {"enum": ["ugc", "pair", "demo", "all"]},
            "prompt": {"type": "string"}, "chosen": {"type": "string"}, "rejected": {"type": "string"},
            "Preference Direction": direction,
            "Demographic Information": {"type": "string"},
            "User-Generated Content": {"type": "array", "maxItems": 4, "items": {
                "type": "object", "required": ["prompt", "comment", "Preference Direction"],
                "properties": {"prompt": {"type": "string"}, "comment": {"type": "string"},
                               "Preference Direction": direction}}},
            "Pair-wise Comparative Feedback": {"type": "array", "maxItems": 4, "items": {
                "type": "object", "required": ["prompt", "chosen", "rejected", "Preference Direction"],
                "properties": {"prompt": {"type": "string"}, "chosen": {"type": "string"},
                               "rejected": {"type": "string"}, "Preference Direction": direction}}},
            "score_ratio": {"type": ["number", "null"]}, "seconds_between": {"type": ["integer", "null"]},
            "length_ratio": {"type": ["number", "null"]},
        },
    }


def shard_paths(split: str, n_rows: int, shard_rows: int) -> list[tuple[str, int, int]]:
    n = max(1, -(-n_rows // shard_rows))
    return [(f"{split}-{i:05d}-of-{n:05d}.parquet", i * shard_rows, min(n_rows, (i + 1) * shard_rows))
            for i in range(n)]


def example_batches(path: Path, rows: int) -> Iterator[pl.DataFrame]:
    """Assemble's examples of one split, ``rows`` at a time, in the file's order, which is id
    order (assemble v12): the release's order. A file out of id order stops emit rather than
    release shards cut from another order."""
    last = None
    for batch in parquet_batches(path, rows):
        ids = batch["id"]
        if not ids.is_sorted() or (last is not None and ids[0] < last):
            raise StageFailed(f"emit: {path} is not sorted by id (assemble sorts its examples since version 12): "
                              "rerun assemble with `alignx run assemble --force`")
        last = ids[-1]
        yield batch


#: Rows per row group of a release shard: what emit holds of a shard while writing it, whatever
#: ``emit.shard_rows`` (a row group of Reddit examples with their histories is a few MB compressed).
ROW_GROUP_ROWS = 1_000


class ShardWriter:
    """The release shards of one split (``shard_paths``), written from its rows in id order as
    they come, one row group (``ROW_GROUP_ROWS`` rows; a shard's last, fewer) at a time, so emit
    holds one row group whatever the shard's size. A row group is written from its rows alone,
    in one chunk, so a shard's bytes depend on its rows and ``ROW_GROUP_ROWS``, never on how the
    rows came in batches (tested). Rows wait for their row group as zstd-compressed Arrow IPC (a
    frame built from Python rows holds several times its data). Each shard file appears whole,
    atomically, once its last row group is written (``pipeline.io.parquet_writer``)."""

    def __init__(self, folder: Path, split: str, n_rows: int, shard_rows: int):
        self.folder = folder
        self.split = split
        self.shards = shard_paths(split, n_rows, shard_rows)
        self.written = 0  # shards written
        self.rows = 0  # rows received
        self.group_start = 0  # the first row of the row group being filled
        self.pending: list[bytes] = []  # its rows, as compressed IPC
        self.open: ExitStack | None = None  # the shard being written
        self.write = None

    def add(self, release: pl.DataFrame) -> None:
        while release.height:
            if self.written == len(self.shards):
                raise StageFailed(f"emit: {self.split} has more rows than its parquet metadata says "
                                  f"({self.shards[-1][2]})")
            end = self.shards[self.written][2]
            boundary = min(end, self.group_start + ROW_GROUP_ROWS)
            take = min(boundary - self.rows, release.height)
            self._hold(release[:take])
            release = release[take:]
            self.rows += take
            if self.rows == boundary:
                self._write_group()
            if self.rows == end:
                self._close_shard()

    def close(self) -> None:
        """Write what is left: only an empty split's one shard of no rows, when every row came."""
        if self.rows != self.shards[-1][2]:
            raise StageFailed(f"emit: {self.split} has {self.rows} rows, its parquet metadata {self.shards[-1][2]}")
        if self.written < len(self.shards):
            self._shard_writer()
            self._close_shard()

    def _hold(self, rows: pl.DataFrame) -> None:
        buffer = io.BytesIO()
        rows.write_ipc(buffer, compression="zstd")
        self.pending.append(buffer.getvalue())

    def _shard_writer(self):
        if self.open is None:
            self.open = ExitStack()
            self.write = self.open.enter_context(parquet_writer(self.folder / self.shards[self.written][0],
                                                                _RELEASE_SCHEMA))
        return self.write

    def _write_group(self) -> None:
        group = pl.concat([pl.read_ipc(io.BytesIO(b)) for b in self.pending], rechunk=True)
        self.pending = []
        self._shard_writer()(group)
        self.group_start = self.rows

    def _close_shard(self) -> None:
        self.open.close()  # the file appears
        self.open = self.write = None
        self.written += 1


class Emit(Stage):
    name = "emit"
    # 3: the card's "How far to trust each dimension"; 4: community signal columns, leak section
    # 5: the last scrub pass adds issue 20's layers (profile links without scheme, addresses with
    #    city/postcode, SSN, IPv6); person names stay anonymize's; 6: the card names the dimensions
    #    the annotator rates but no test item measured
    # 7: the card says which pair directions compare raw measures (directions rule 3) and how they do;
    # 8: ... and that complexity compares a refitted readability formula
    # 9: the card reports the tokens the release's ratings took (stored with them), not this run's spend
    # 10: the last scrub pass adds issue 27's families (crypto, bank accounts, dates of birth, handles, ids)
    # 11: each shard is written from its own rows, not as a slice of its whole split
    # 12: ... one row group of ROW_GROUP_ROWS rows at a time (pyarrow's writer), so emit holds one
    #     row group, not one shard: same rows, other bytes
    version = "12"
    # ingest_reddit and anonymize: their manifests feed the dataset card
    upstream = ("assemble", "cluster", "annotate", "ingest_alignment", "ingest_reddit", "anonymize")
    uses = ("run.seed", *keys("emit", "version", "shard_rows", "bias_max_pole_share", "bias_max_top10_subreddit_share",
                              "bias_max_user_gini"),
            # the card prices the tokens the release's ratings took
            *keys("annotate", "price_input_per_mtok", "price_output_per_mtok", "batch_discount"))
    unit = "examples"
    parallel = False
    description = "release shards, JSON Schema, checksums and dataset card"

    def fingerprint_extra(self, config, data_dir: Path) -> dict[str, str]:
        # the card carries the published annotator validity: a new measurement is a new card
        return {"annotator_validity": sha256_file(PUBLISHED) if PUBLISHED.exists() else "none"}

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        p = ctx.params
        scrubbed: Counter = Counter()
        # a last pass over every text (alignment data included); person names are left to
        # anonymize, which knows the authors: a name list would also rewrite fictional names in prompts
        scrubber = Scrubber([], ScrubRules(person_names=False))
        stats = Stats()
        folder = out_dir / "release"
        summaries, biases = {}, {}
        for split in ("train", "test"):
            path = next(f for f in ctx.upstream_files("assemble", "examples") if f.stem == split)
            summaries[split], biases[split] = SplitSummary(), SplitBias()
            shards = ShardWriter(folder, split, parquet_rows(path), p["shard_rows"])
            for examples in example_batches(path, BATCH_ROWS):
                release = to_release(examples, scrubber, scrubbed)
                shards.add(release)
                summaries[split].add(release)
                biases[split].add(examples)
            shards.close()
            stats.records_in += summaries[split].rows
            stats.records_out += summaries[split].rows
        if stats.records_out == 0:
            raise StageFailed(
                f"emit: the release would hold 0 examples (assemble made none); the previous release in "
                f"{release_dir(ctx.config, ctx.data_dir)} is kept, not replaced by an empty one: see `alignx status`")
        (folder / "schema.json").write_text(json.dumps(json_schema(), indent=2) + "\n")
        heat = ctx.upstream_files("cluster", "correlation", suffix=".png")
        if heat:
            shutil.copyfile(heat[0], folder / "correlation_heatmap.png")
        users = ctx.upstream_files("cluster", "archetypes")[0]
        bias = {split: b.report(*user_poles(users, b.per_user, BATCH_ROWS)) for split, b in biases.items()}
        bias_flags = flags(bias, p["bias_max_pole_share"], p["bias_max_top10_subreddit_share"], p["bias_max_user_gini"])
        (folder / "bias.json").write_text(json.dumps({"report": bias, "flags": bias_flags}, indent=2) + "\n")
        plots(bias, folder)
        (folder / "README.md").write_text(dataset_card(ctx, summaries, p, bias, bias_flags), encoding="utf-8")
        files = sorted(f for f in folder.iterdir() if f.name != "checksums.sha256")
        (folder / "checksums.sha256").write_text("".join(f"{sha256_file(f)}  {f.name}\n" for f in files))
        stats.counts.update({f"scrubbed.{k}": v for k, v in scrubbed.items()})
        stats.counts.update({"train": summaries["train"].rows, "test": summaries["test"].rows})
        return stats

    def finish(self, ctx: StageContext, parts: list[Path], stats: Stats, out_dir: Path) -> Stats:
        stats = super().finish(ctx, parts, stats, out_dir)
        dest = release_dir(ctx.config, ctx.data_dir)
        tmp = dest.with_name(f".tmp-{dest.name}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(out_dir / "release", tmp)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
        return stats

    def external_outputs(self, config, data_dir: Path) -> list[Path]:
        return [release_dir(config, data_dir)]

    def summary(self, manifest: dict) -> str:
        c = manifest.get("counts", {})
        return f"release {manifest['config'].get('version')}: train {c.get('train', 0)}, test {c.get('test', 0)}"


def leak_section(train: SplitSummary, test: SplitSummary, assemble_m: dict) -> list[str]:
    """The card's split section: test share of targets and what train and test share (texts
    counted here, on the released text; ids and users from assemble's check)."""
    c, d = assemble_m.get("counts", {}), assemble_m.get("dropped", {})
    targets_test = test.targets
    share = targets_test / max(targets_test + train.rows, 1)
    return [
        "## Splits and leakage", "",
        f"Test holds {targets_test} targets, {share:.3f} of all targets (assemble.test_share "
        f"{assemble_m.get('config', {}).get('test_share', '-')}). Users and threads go to test by a seeded hash; "
        "an example is built only where its user and its target thread are on the same side, and its history "
        "comes from threads of that side.", "",
        "| shared between train and test | count |", "|---|---|",
        f"| texts (prompts, responses, persona items) | {train.texts.shared(test.texts)} |",
        f"| posts and comments (ids) | {c.get('leak.ids', 0)} |",
        f"| users | {c.get('leak.users', 0)} |", "",
        f"Train examples dropped because they touched test: {d.get('user_in_test', 0)} by user, "
        f"{d.get('post_in_test', 0)} by post or comment, {d.get('text_in_test', 0)} by identical text; "
        f"{c.get('split_crossing_comments', 0)} comments were left out because their author and thread are on "
        "different sides.",
    ]


def _features_yaml() -> str:
    return "\n".join([
        "  features:",
        "  - name: id\n    dtype: string", "  - name: source\n    dtype: string",
        "  - name: persona_type\n    dtype: string", "  - name: prompt\n    dtype: string",
        "  - name: chosen\n    dtype: string", "  - name: rejected\n    dtype: string",
        "  - name: Preference Direction\n    sequence: float32",
        "  - name: Demographic Information\n    dtype: string",
        "  - name: User-Generated Content\n    list:\n    - name: prompt\n      dtype: string\n"
        "    - name: comment\n      dtype: string\n    - name: Preference Direction\n      sequence: float32",
        "  - name: Pair-wise Comparative Feedback\n    list:\n    - name: prompt\n      dtype: string\n"
        "    - name: chosen\n      dtype: string\n    - name: rejected\n      dtype: string\n"
        "    - name: Preference Direction\n      sequence: float32",
        "  - name: score_ratio\n    dtype: float64", "  - name: seconds_between\n    dtype: int64",
        "  - name: length_ratio\n    dtype: float64",
    ])


def bias_section(bias: dict) -> list[str]:
    lines = ["## Bias report", "",
             "Who the personas say the users are (demographic and Big Five dimensions; share of Reddit users by "
             "their own comments' profile, and of examples by their history's profile) and where the Reddit "
             "part comes from. Figures in `bias.json`.", "",
             "![persona directions](bias_directions.png)", "", "![subreddit concentration](bias_subreddits.png)", ""]
    for split, r in bias.items():
        lines += [f"### {split}", "", f"{r['examples']} examples; sources: "
                  + ", ".join(f"{k} {100 * v:.1f}%" for k, v in r["sources"].items()) + ".", "",
                  "| dimension | label_1 | users | examples | label_0 | users | examples |", "|---|---|---|---|---|---|---|"]
        for dim, s in r["demographics_over_users"].items():
            e = r["demographics_over_examples"][dim]
            lines.append(f"| {dim} | {s['label_1']} | {100 * s['share_1']:.0f}% | {100 * e['share_1']:.0f}% | "
                         f"{s['label_0']} | {100 * s['share_0']:.0f}% | {100 * e['share_0']:.0f}% |")
        lines += ["", f"Subreddits: {r['subreddits']}, top-10 share {100 * r['top10_subreddit_share']:.0f}%, Gini "
                  f"{r['subreddit_gini']:.2f}. Users: {r['users']}, {r['examples_per_user_mean']:.2f} examples per user "
                  f"on average (max {r['examples_per_user_max']}, Gini {r['user_gini']:.2f}).", ""]
    return lines


def trust_section(annotate_m: dict) -> list[str]:
    """"How far to trust each dimension": the published validity of this build's annotator
    (``alignx validate-annotator``, annotators/resources/validity.json) on the reference set's
    test split; a note instead when it was measured for another annotator or not at all."""
    name = label(annotate_m.get("config", {}))
    lines = ["## How far to trust each dimension", ""]
    report = published(name)
    if not report:
        return lines + [f"No published validity for annotator `{name}`: run `alignx validate-annotator`."]
    ref = report["reference_test"]
    tax = load_taxonomy()
    lines += [f"Annotator `{name}` against the hand-labelled reference set (data/validation/, test split, "
              f"{ref['items']} comments): evidence precision (its ratings the labellers agree have evidence), "
              "recall, sign accuracy where both see evidence, Cohen's kappa (none / + / -). Directions on "
              "other dimensions are always 0.5.", "",
              "| # | dimension | evidence precision | evidence recall | sign accuracy | kappa |", "|---|---|---|---|---|---|"]
    for d in ref["dimensions_rated"]:
        m = ref["dimensions"].get(str(d), {})
        lines.append(f"| {d} | {tax[d].description} | {m.get('evidence_precision')} | {m.get('evidence_recall')} | "
                     f"{m.get('sign_accuracy')} | {m.get('kappa')} |")
    if ref.get("dimensions_unmeasured"):
        lines += ["", "Rated, but on no test item, so unmeasured: "
                  + ", ".join(str(d) for d in ref["dimensions_unmeasured"]) + "."]
    lines += ["", "Never rated by this annotator: " + ", ".join(str(d) for d in ref["dimensions_never_rated"]) + "."]
    return lines + relative_lines(ref)


def relative_lines(ref: dict) -> list[str]:
    """The card's lines on the relative pair-direction rule (alignx/directions.py rule 3): which
    dimensions compare the two responses' raw measures, and how that did on the test split."""
    measured = {d: v["relative_rule"] for d, v in ref.get("item_pairs", {}).items() if "relative_rule" in v}
    if not measured:
        return []
    tax = load_taxonomy()
    pairs = ref["pair_directions"]["dimensions"]
    lines = ["", f"Pair directions on dimensions {', '.join(measured)} compare "
             "the two responses' raw measures (word count; for complexity, a readability formula of syllables per "
             "word, words per sentence and length; alignx/directions.py, rule 3, weights and gaps fitted on the "
             "reference set's dev split) instead of their ratings, so two middling responses to the same post still "
             "get a direction when one is longer or written at a more complex level by the fitted gap. On the test "
             "split:", "", "| dimension | sibling pairs: agreement (0 / 0.5 / 1); accuracy where both give a direction "
             "(labelled directions) | "
             "item pairs labelled at different levels: accuracy / coverage |", "|---|---|---|"]
    for d, m in measured.items():
        p = pairs.get(d, {})
        few = p.get("reference_directions", 0) < 5  # too few labelled directions for the figure to mean much
        lines.append(f"| {d} {tax[int(d)].description} | {p.get('three_class_agreement')}; {p.get('direction_accuracy')} "
                     f"({p.get('reference_directions', 0)}{': too few labelled to judge' if few else ''}) | "
                     f"{m['direction_accuracy']} / {m['direction_coverage']} |")
    return lines


def history_text_lines(assemble_m: dict) -> list[str]:
    """The card's line on User-Generated Content: the users' own words, or paraphrases and how much
    of each original's non-neutral directions survived them (assemble's ``paraphrase.*`` counts)."""
    if (assemble_m.get("config") or {}).get("history_text") != "paraphrase":
        return ["- Observed: the users' own comments (User-Generated Content), pseudonymized and scrubbed."]
    c = assemble_m.get("counts", {})
    mean = c.get("paraphrase.survival_mean")
    return [f"- Synthesized: User-Generated Content is not the users' words: each comment was paraphrased by an LLM "
            f"and re-rated by the annotator; on average {mean if mean is not None else 0:.2f} of the original's "
            f"non-neutral dimensions survived (median {c.get('paraphrase.survival_median') or 0:.2f}). Of "
            f"{c.get('paraphrase.comments', 0)} comments, {c.get('paraphrase.kept', 0)} paraphrases were kept, "
            f"{c.get('paraphrase.dropped_low_survival', 0)} dropped below the survival threshold "
            f"{(assemble_m.get('config') or {}).get('paraphrase_min_survival')} and "
            f"{c.get('paraphrase.failed', 0)} failed; dropped ones are left out, never replaced by the original."]


def ratings_cost(ctx: StageContext, annotate_m: dict) -> str:
    """What the release's ratings took: annotate's ``ratings.*`` tokens (what they cost when they
    were made, so a resumed, cached or interrupted build reports the same) at the configured prices."""
    c = annotate_m.get("counts", {})
    annotator = backend((annotate_m.get("config") or {}).get("backend", "embedding"))
    if not annotator.sends_requests:
        return "rated offline, no tokens."
    prices = {k: ctx.config[f"annotate.{k}"] for k in ("price_input_per_mtok", "price_output_per_mtok", "batch_discount")}
    spend = annotator.spend({**prices, "max_cost": 0.0})
    spend.add(c.get("ratings.tokens_in", 0), c.get("ratings.tokens_out", 0))
    return (f"its ratings took {spend.tokens_in} input and {spend.tokens_out} output tokens (${spend.cost:.2f} at "
            f"annotate.price_input_per_mtok and price_output_per_mtok{' with batch_discount' if spend.discount != 1.0 else ''}).")


def dataset_card(ctx: StageContext, splits: dict[str, SplitSummary], p: dict, bias: dict,
                 bias_flags: list[str]) -> str:
    tax = load_taxonomy()
    train, test = splits["train"], splits["test"]
    assemble_m = ctx.manifest("assemble")
    annotate_m = ctx.manifest("annotate")
    lines = [
        "---", "license: cc-by-nc-4.0", "language:", "- en", "pretty_name: AlignX (rebuilt with alignx-pipeline)",
        "task_categories:", "- text-generation", "tags:", "- personalization", "- preference", "- alignment",
        "configs:", "- config_name: default", "  data_files:", "  - split: train", "    path: \"train-*.parquet\"",
        "  - split: test", "    path: \"test-*.parquet\"", "dataset_info:", _features_yaml(), "  splits:",
        f"  - name: train\n    num_examples: {train.rows}", f"  - name: test\n    num_examples: {test.rows}",
        "---", "",
        f"# AlignX, rebuilt (release {p['version']})", "",
        "Personalized preference examples in the AlignX format (Li et al., arXiv 2503.15463): one user's "
        "preference between two responses to a post, with evidence about that user (a persona).", "",
        "## Counts", "", "| split | source | examples |", "|---|---|---|",
    ]
    for name, summary in (("train", train), ("test", test)):
        for src, n in sorted(summary.sources.items()):
            lines.append(f"| {name} | {src} | {n} |")
    lines += ["", "Test targets appear four times, with persona_type `ugc`, `pair`, `demo` and `all` "
              "(AlignX-test style)."]
    lines += [""] + leak_section(train, test, assemble_m)
    lines += ["",
              "## Personas", "", "| split | mean UGC items | mean PAIR items | share with Demographic Information |",
              "|---|---|---|---|"]
    for name, summary in (("train", train), ("test", test)):
        if summary.rows:
            ugc = summary.ugc_items / summary.rows
            pair = summary.pair_items / summary.rows
            demo = summary.with_demographic / summary.rows
            lines.append(f"| {name} | {ugc:.2f} | {pair:.2f} | {demo:.2f} |")
    comm = {k.split(".", 1)[1]: v for k, v in assemble_m.get("counts", {}).items() if k.startswith("community.")}
    total = sum(comm.values()) or 1
    lines += ["", "## Agreement with the community's order", "",
              "Reddit targets compared with the order SHP would infer from scores (the later comment preferred "
              "when its score is at least twice the earlier one's, both >= 2):", "",
              "| user's choice vs community | targets | share |", "|---|---|---|"]
    lines += [f"| {k} | {v} | {v / total:.2f} |" for k, v in sorted(comm.items())]
    lines += ["", "Personalized data is most informative where the user's choice disagrees with the community.",
              "", "## Direction distribution per dimension (train)", "",
              "| # | dimension | towards label_1 | towards label_0 | neutral |", "|---|---|---|---|---|"]
    for d in tax:
        share = (lambda v: train.direction_share(v, d.index))
        lines.append(f"| {d.index} | {d.description} | {share(1.0)} | {share(0.0)} | {share(0.5)} |")
    lines += [""] + trust_section(annotate_m)
    lines += [""] + bias_section(bias)
    lines += ["", "## Dimension correlation", "", "![correlation of directions](correlation_heatmap.png)", "",
              "## How it was built", "",
              "Built by alignx-pipeline: ingest_reddit -> anonymize -> annotate -> cluster -> assemble -> emit, "
              "with ingest_alignment for PKU-SafeRLHF, UltraFeedback and HelpSteer2.", "",
              "| stage | version | config hash | code |", "|---|---|---|---|"]
    for stage in ("ingest_reddit", "ingest_alignment", "anonymize", "annotate", "cluster", "assemble"):
        m = ctx.manifest(stage)
        if m:
            lines.append(f"| {stage} | {m['stage_version']} | {m['config_hash'][:12]} | {m['code_version'][:12]} |")
    annotator = annotate_m.get("config", {})
    lines += ["", f"Annotator: backend `{annotator.get('backend')}`, "
              f"model `{backend(annotator['backend']).model_of(annotator)}`, "
              f"version `{(annotate_m.get('extra') or {}).get('annotator_version')}`; {ratings_cost(ctx, annotate_m)} "
              f"Seed {ctx.seed}.", "",
              "## What is observed and what is synthesized", "",
              *history_text_lines(assemble_m),
              "- Synthesized: chosen/rejected of Reddit targets and Pair-wise Comparative Feedback are other users' "
              "comments oriented by the user's annotated profile (Reddit publishes no per-user votes); Preference "
              "Directions come from the annotator; Demographic Information is generated from the history's "
              "profile only, never from the target, so it does not leak the label.", "",
              "## Known limitations", "",
              *(f"- Skew: {f}" for f in bias_flags),
              "- Annotation quality bounds everything: directions exist only where the annotator found evidence "
              "(or, on the relative dimensions, where two responses' measures differ by the fitted gap); "
              "see \"How far to trust each dimension\" above.",
              "- Authors are pseudonymous, not anonymous: writing style and content can still identify a person.",
              "- Reddit's population is not the world's: see the direction distribution above.", "",
              "## Licences and terms of the sources", "", "| source | licence / terms |", "|---|---|"]
    lines += [f"| {s} | {l} |" for s, l in LICENCES]
    return "\n".join(lines) + "\n"


def check_release_schema(folder: Path, rows_per_shard: int = 1000) -> tuple[list[str], int]:
    """Problems with the release's parquet shards: columns or types other than the release's,
    or rows (the first ``rows_per_shard`` of each shard; 0 = all) that break ``schema.json``
    (validated with ``jsonschema``). Returns (problems, rows checked)."""
    import jsonschema

    problems, checked = [], 0
    schema_file = folder / "schema.json"
    if not schema_file.is_file():
        return [f"{schema_file}: missing"], 0
    try:
        validator = jsonschema.Draft202012Validator(json.loads(schema_file.read_text()))
    except (json.JSONDecodeError, jsonschema.SchemaError) as exc:
        return [f"{schema_file}: not a JSON Schema ({str(exc).splitlines()[0]})"], 0
    shards = sorted(folder.glob("*.parquet"))
    if not shards:
        problems.append(f"{folder}: no parquet shards")
    for path in shards:
        try:
            df = pl.read_parquet(path)
        except Exception as exc:  # any damage pyarrow/polars report: named, not raised
            problems.append(f"{path}: unreadable parquet ({str(exc).splitlines()[0]})")
            continue
        if dict(df.schema) != _RELEASE_SCHEMA:
            problems.append(f"{path}: columns {list(df.schema)} differ from the release schema {list(_RELEASE_SCHEMA)}")
            continue
        sample = df if rows_per_shard <= 0 else df.head(rows_per_shard)
        for i, row in enumerate(sample.iter_rows(named=True)):
            checked += 1
            error = next(iter(validator.iter_errors(row)), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path)
                problems.append(f"{path} row {i}: {where or 'row'}: {error.message[:200]}")
                break
    return problems, checked
