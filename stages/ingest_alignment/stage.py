"""Stage ``ingest_alignment``: PKU-SafeRLHF, UltraFeedback and HelpSteer2 -> single-attribute pairs.

Config section ``[ingest_alignment]`` (with ``[ingest_alignment.poles]`` and ``[ingest_alignment.targets]``).
AlignX mixes these datasets in (about 6.5% of its examples) to keep universal-value
alignment. Each attribute becomes one user type: the pair's Preference Direction is 1 or 0 on
the attribute's dimension (towards the pole named in ``ingest_alignment.poles``) and 0.5 elsewhere.

Shards: one per input file (or Hugging Face dataset); each turns rows into candidate pairs.
``finish`` samples ``ingest_alignment.targets`` pairs per source and attribute with the seed.

Rules (all in config):

- PKU-SafeRLHF -> harmlessness: rows where exactly one response is safe, chosen = the safe one
  (``pku_pairs = "safer"``: every row, chosen = ``safer_response_id``); helpfulness, chosen =
  ``better_response_id``, when ``targets.pku_helpfulness`` is not 0.
- UltraFeedback -> helpfulness, honesty, instruction_following, truthfulness: pairs of
  completions of one instruction whose ratings differ by >= ``ultrafeedback_min_gap``; "N/A"
  never pairs; at most ``ultrafeedback_max_pairs_per_instruction`` per instruction and
  attribute, largest gap first.
- HelpSteer2 -> helpfulness, correctness, coherence, complexity, verbosity: the responses of one
  prompt (consecutive rows); by default only pairs differing on exactly one attribute.

Bad input: a file that lacks a column its dataset requires is an error naming the file and the
column (it is the wrong dataset). Row-level problems are dropped and counted by reason:
``missing_field`` (a required value is null or absent), ``bad_rating`` (a rating that is not
a number in range), plus the rule outcomes ``same_safety`` (PKU), ``na_rating``, ``tie``,
``gap_below_min``, ``over_instruction_cap`` (UltraFeedback), ``single_response``, ``tie``,
``several_differences`` (HelpSteer2) and ``not_sampled`` (candidates beyond a target).

Output ``pairs/part-000.parquet``: ``id`` (stable hash of the pair's sources), ``source``,
``attribute``, ``user_type`` (``source/attribute``), ``prompt``, ``chosen``, ``rejected``,
``direction`` (90 floats), ``dimension`` (index), ``pole`` (label the chosen side leans to),
``chosen_score``, ``rejected_score``, and provenance: ``dataset``, ``split``, ``source_file``,
``row`` (0-based record index in the file), ``chosen_ref``, ``rejected_ref`` (which responses).
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import orjson
import polars as pl

from pipeline.errors import UserError
from pipeline.io import stable_hash, write_parquet
from pipeline.stage import Shard, Stage, StageContext, Stats, keys
from alignx.taxonomy import N_DIMENSIONS, load_taxonomy

PKU = "PKU-SafeRLHF"
ULTRAFEEDBACK = "UltraFeedback"
HELPSTEER2 = "HelpSteer2"
#: config prefix of each source's keys
PREFIX = {PKU: "pku", ULTRAFEEDBACK: "ultrafeedback", HELPSTEER2: "helpsteer2"}
UF_ATTRIBUTES = ("helpfulness", "honesty", "instruction_following", "truthfulness")
HS2_ATTRIBUTES = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")
REQUIRED = {
    PKU: ("prompt", "response_0", "response_1", "is_response_0_safe", "is_response_1_safe",
          "better_response_id", "safer_response_id"),
    ULTRAFEEDBACK: ("instruction", "completions"),
    HELPSTEER2: ("prompt", "response", *HS2_ATTRIBUTES),
}
SUFFIXES = (".jsonl", ".json", ".parquet")
PAIR_SCHEMA = {
    "id": pl.String, "source": pl.String, "attribute": pl.String, "user_type": pl.String,
    "prompt": pl.String, "chosen": pl.String, "rejected": pl.String,
    "direction": pl.List(pl.Float32), "dimension": pl.Int32, "pole": pl.String,
    "chosen_score": pl.Float64, "rejected_score": pl.Float64,
    "dataset": pl.String, "split": pl.String, "source_file": pl.String, "row": pl.Int64,
    "chosen_ref": pl.String, "rejected_ref": pl.String,
}


def pole_dimension(label: str, key: str) -> tuple[int, float]:
    """(dimension index, direction value) of a pole label: 1.0 for label_1, 0.0 for label_0."""
    for dim in load_taxonomy():
        if dim.label_1 == label:
            return dim.index, 1.0
        if dim.label_0 == label:
            return dim.index, 0.0
    raise UserError(f"{key}: '{label}' is not a pole label of any dimension in the taxonomy")


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """Records of a jsonl, json (array or lines) or parquet file, in file order."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
            yield from batch.to_pylist()
        return
    with path.open("rb") as fh:
        head = fh.read(1)
        while head.isspace():
            head = fh.read(1)
        fh.seek(0)
        if path.suffix == ".json" and head == b"[":
            yield from json.load(fh)
            return
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise UserError(f"{path}: line {n} is not JSON ({exc}); is this a {path.suffix} file?") from None


def _check_columns(rows: Iterator[dict], source: str, where: str) -> Iterator[dict]:
    """Fail on the first row when the file lacks a column its dataset requires."""
    for i, row in enumerate(rows):
        if i == 0:
            missing = [c for c in REQUIRED[source] if c not in row]
            if missing:
                raise UserError(
                    f"{where}: not a {source} file: column '{missing[0]}' is missing "
                    f"(needs {', '.join(REQUIRED[source])}); check alignment.{PREFIX[source]}_inputs"
                )
        yield row


def _rating(value: Any, low: float, high: float) -> float | None | str:
    """A numeric rating in [low, high]; None for N/A; 'bad' for anything else."""
    if value is None:
        return "bad"
    if isinstance(value, str):
        if value.strip().upper() in ("N/A", "NA", ""):
            return None
        try:
            value = float(value)
        except ValueError:
            return "bad"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        return "bad"
    return float(value)


class PairMaker:
    """Builds pair records with direction vectors and provenance for one input."""

    def __init__(self, p: dict, source: str, dataset: str, split: str, source_file: str):
        self.p, self.source, self.dataset, self.split, self.source_file = p, source, dataset, split, source_file
        self.pairs: list[dict] = []
        self.dropped: Counter = Counter()

    def add(self, attribute: str, row: int, prompt: str, chosen: str, rejected: str,
            chosen_ref: str, rejected_ref: str, chosen_score: float | None = None,
            rejected_score: float | None = None) -> None:
        if not all(isinstance(t, str) and t.strip() for t in (prompt, chosen, rejected)):
            self.dropped["missing_field"] += 1
            return
        dim, value = pole_dimension(self.p[f"poles.{attribute}"], f"ingest_alignment.poles.{attribute}")
        direction = [0.5] * N_DIMENSIONS
        direction[dim] = value
        self.pairs.append({
            "id": "aln-" + stable_hash([self.dataset, self.split, self.source_file, row, attribute,
                                        chosen_ref, rejected_ref])[:20],
            "source": self.source, "attribute": attribute, "user_type": f"{self.source}/{attribute}",
            "prompt": prompt, "chosen": chosen, "rejected": rejected, "direction": direction,
            "dimension": dim, "pole": self.p[f"poles.{attribute}"],
            "chosen_score": chosen_score, "rejected_score": rejected_score,
            "dataset": self.dataset, "split": self.split, "source_file": self.source_file, "row": row,
            "chosen_ref": chosen_ref, "rejected_ref": rejected_ref,
        })


def pku_pairs(rows, make: PairMaker, with_helpfulness: bool) -> int:
    n = 0
    for i, r in enumerate(rows):
        n += 1
        safe = (r.get("is_response_0_safe"), r.get("is_response_1_safe"))
        ids = (r.get("safer_response_id"), r.get("better_response_id"))
        if None in safe or any(x not in (0, 1) for x in ids):
            make.dropped["missing_field"] += 1
            continue
        responses = (r.get("response_0"), r.get("response_1"))
        if make.p["pku_pairs"] == "one_safe":
            chosen = safe.index(True) if safe[0] != safe[1] else None
        else:
            chosen = ids[0]
        if chosen is None:
            make.dropped["same_safety"] += 1
        else:
            make.add("harmlessness", i, r.get("prompt"), responses[chosen], responses[1 - chosen],
                     f"response_{chosen}", f"response_{1 - chosen}")
        if with_helpfulness:
            better = ids[1]
            make.add("helpfulness", i, r.get("prompt"), responses[better], responses[1 - better],
                     f"response_{better}", f"response_{1 - better}")
    return n


def ultrafeedback_pairs(rows, make: PairMaker, rng: np.random.Generator) -> int:
    n = 0
    cap = make.p["ultrafeedback_max_pairs_per_instruction"]
    for i, r in enumerate(rows):
        n += 1
        completions = r.get("completions") or []
        if len(completions) < 2:
            make.dropped["single_response"] += 1
            continue
        for attribute in UF_ATTRIBUTES:
            ratings = []
            for c in completions:
                rating = (((c or {}).get("annotations") or {}).get(attribute) or {})
                ratings.append(_rating(rating.get("Rating") if isinstance(rating, dict) else None, 1, 5))
            candidates = []
            for a, b in itertools.combinations(range(len(completions)), 2):
                ra, rb = ratings[a], ratings[b]
                if "bad" in (ra, rb):
                    make.dropped["bad_rating"] += 1
                elif ra is None or rb is None:
                    make.dropped["na_rating"] += 1
                elif ra == rb:
                    make.dropped["tie"] += 1
                elif abs(ra - rb) < make.p["ultrafeedback_min_gap"]:
                    make.dropped["gap_below_min"] += 1
                else:
                    candidates.append((abs(ra - rb), rng.random(), a, b))
            candidates.sort(key=lambda t: (-t[0], t[1]))
            make.dropped["over_instruction_cap"] += max(0, len(candidates) - cap)
            for _, _, a, b in candidates[:cap]:
                hi, lo = (a, b) if ratings[a] > ratings[b] else (b, a)
                make.add(attribute, i, r.get("instruction"), completions[hi].get("response"),
                         completions[lo].get("response"), f"completions[{hi}]", f"completions[{lo}]",
                         ratings[hi], ratings[lo])
    return n


def helpsteer2_pairs(rows, make: PairMaker) -> int:
    n = 0
    indexed = ((i, r) for i, r in enumerate(rows))
    for prompt, group in itertools.groupby(indexed, key=lambda t: t[1].get("prompt")):
        group = list(group)
        n += len(group)
        if len(group) < 2:
            make.dropped["single_response"] += 1
            continue
        for (ia, a), (ib, b) in itertools.combinations(group, 2):
            ra = [_rating(a.get(k), 0, 4) for k in HS2_ATTRIBUTES]
            rb = [_rating(b.get(k), 0, 4) for k in HS2_ATTRIBUTES]
            if any(x in ("bad", None) for x in ra + rb):
                make.dropped["bad_rating"] += 1
                continue
            differing = [k for k, x, y in zip(HS2_ATTRIBUTES, ra, rb) if x != y]
            if not differing:
                make.dropped["tie"] += 1
                continue
            if make.p["helpsteer2_single_difference"] and len(differing) > 1:
                make.dropped["several_differences"] += 1
                continue
            for attribute in differing:
                x, y = ra[HS2_ATTRIBUTES.index(attribute)], rb[HS2_ATTRIBUTES.index(attribute)]
                (hi, rhi, shi), (lo, rlo, slo) = sorted([(ia, a, x), (ib, b, y)], key=lambda t: -t[2])
                make.add(attribute, hi, prompt, rhi.get("response"), rlo.get("response"),
                         f"row {hi}", f"row {lo}", shi, slo)
    return n


def _source_of(shard: Shard) -> str:
    return shard.param("source")


class IngestAlignment(Stage):
    name = "ingest_alignment"
    version = "1"
    input_keys = ("ingest_alignment.pku_inputs", "ingest_alignment.ultrafeedback_inputs", "ingest_alignment.helpsteer2_inputs")
    uses = ("run.seed", *keys("ingest_alignment", "pku_hf", "ultrafeedback_hf", "helpsteer2_hf", "hf_split",
                              "hf_revision", "pku_pairs", "ultrafeedback_min_gap",
                              "ultrafeedback_max_pairs_per_instruction", "helpsteer2_single_difference", "poles.*",
                              "targets.*"))
    unit = "candidate pairs"
    description = "PKU-SafeRLHF, UltraFeedback, HelpSteer2 -> single-attribute preference pairs"

    def accepts_input(self, path: Path) -> bool:
        return not path.name.startswith(".") and path.name.endswith(SUFFIXES)

    def shards(self, ctx: StageContext) -> list[Shard]:
        from pipeline.manifest import resolve_inputs

        p = ctx.params
        shards = []
        for source, prefix in PREFIX.items():
            files = resolve_inputs(self, ctx.config, ctx.data_dir, keys=(f"ingest_alignment.{prefix}_inputs",))
            for path in files:
                shards.append(Shard(f"{prefix}-{path.name}", (str(path),), (("source", source),),
                                    weight=path.stat().st_size))
            if p[f"{prefix}_hf"]:
                shards.append(Shard(f"{prefix}-hf", (), (("source", source), ("hf", p[f"{prefix}_hf"]))))
        return shards

    def _rows(self, ctx: StageContext, shard: Shard) -> tuple[Iterator[dict], str, str, str]:
        """(rows, dataset, split, source_file) of a shard."""
        p = ctx.params
        if shard.param("hf"):
            try:
                import datasets
            except ImportError:
                raise UserError("ingest_alignment.*_hf needs the `datasets` library: pip install -e '.[hf]'") from None
            ds = datasets.load_dataset(shard.param("hf"), split=p["hf_split"], revision=p["hf_revision"] or None)
            return iter(ds), shard.param("hf"), p["hf_split"], f"hf:{shard.param('hf')}"
        path = Path(shard.inputs[0])
        return read_rows(path), _source_of(shard), "local", path.name

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        p = ctx.params
        source = _source_of(shard)
        rows, dataset, split, source_file = self._rows(ctx, shard)
        rows = _check_columns(rows, source, shard.inputs[0] if shard.inputs else source_file)
        make = PairMaker(p, source, dataset, split, source_file)
        if source == PKU:
            n = pku_pairs(rows, make, with_helpfulness=p["targets.pku_helpfulness"] != 0)
        elif source == ULTRAFEEDBACK:
            rng = np.random.default_rng([ctx.seed, int(stable_hash(source_file)[:8], 16)])
            n = ultrafeedback_pairs(rows, make, rng)
        else:
            n = helpsteer2_pairs(rows, make)
        write_parquet(pl.DataFrame(make.pairs, schema=PAIR_SCHEMA), out_dir / "candidates.parquet", scratch=True)
        # the unit is the candidate pair: every comparison made or dropped (a row dropped whole,
        # for a missing field or a single response, counts once); rows read are a count
        made = len(make.pairs)
        return Stats(records_in=made + sum(make.dropped.values()), records_out=made, dropped=make.dropped,
                     counts=Counter({"rows": n, f"rows.{source}": n}))

    def finish(self, ctx: StageContext, parts: list[Path], stats: Stats, out_dir: Path) -> Stats:
        p = ctx.params
        frames = [pl.read_parquet(part / "candidates.parquet") for part in parts]
        candidates = pl.concat(frames) if frames else pl.DataFrame(schema=PAIR_SCHEMA)
        before = candidates.height
        candidates = candidates.unique(subset="id", keep="first", maintain_order=True)
        stats.dropped["duplicate_id"] += before - candidates.height
        kept = []
        for (source, attribute), group in sorted(
            candidates.group_by(["source", "attribute"]), key=lambda kv: kv[0]
        ):
            key = f"targets.{PREFIX[source]}_{attribute}"
            target = p.get(key, -1)
            group = group.sort("id")
            stats.counts[f"candidates.{source}.{attribute}"] = group.height
            if 0 <= target < group.height:
                rng = np.random.default_rng([ctx.seed, int(stable_hash([source, attribute])[:8], 16)])
                pick = np.sort(rng.choice(group.height, size=target, replace=False))
                stats.dropped["not_sampled"] += group.height - target
                group = group[pick]
            if target > group.height:
                stats.counts[f"shortfall.{source}.{attribute}"] = target - group.height
            stats.counts[f"pairs.{source}.{attribute}"] = group.height
            kept.append(group)
        pairs = pl.concat(kept) if kept else pl.DataFrame(schema=PAIR_SCHEMA)
        pairs = pairs.sort("source", "attribute", "id")
        stats.records_out = pairs.height
        write_parquet(pairs, out_dir / "pairs" / "part-000.parquet")
        return stats

    def summary(self, manifest: dict) -> str:
        pairs = {k[len("pairs."):]: v for k, v in manifest.get("counts", {}).items() if k.startswith("pairs.")}
        return ", ".join(f"{k.replace('.', '/')} {v}" for k, v in sorted(pairs.items()))
