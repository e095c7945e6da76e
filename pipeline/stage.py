"""The stage contract.

A stage is a transform from input files (raw inputs named in config, or other stages' outputs)
to output files plus counts. It splits its work into independent shards (``run_shard``), then
optionally combines them (``finish``). It never decides where or how shards run: the runner
(``pipeline.runner``) does, so a distributed engine can run the same stage unchanged.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pipeline.config import Config


#: A ``dropped`` reason with this prefix is a failure, not a rule (an annotation the endpoint
#: never answered): the stage is "incomplete", its shards holding failures are rerun, and a
#: share of failures above ``execution.max_failed_share`` fails the stage.
FAILED_PREFIX = "failed_"


@dataclass
class Stats:
    """What a shard (or a whole stage) read, kept and dropped, in the stage's ``unit``.

    ``records_in == records_out + sum(dropped.values())`` (the runner enforces it).
    ``dropped`` maps a documented reason to a count (``failed_*`` reasons: items that failed,
    to retry); ``counts`` holds other named figures (threads, replies with parent...). Both
    are summed across shards.
    """

    records_in: int = 0
    records_out: int = 0
    dropped: Counter = field(default_factory=Counter)
    counts: Counter = field(default_factory=Counter)

    def merge(self, other: "Stats") -> "Stats":
        self.records_in += other.records_in
        self.records_out += other.records_out
        self.dropped.update(other.dropped)
        self.counts.update(other.counts)
        return self

    @property
    def failed(self) -> dict[str, int]:
        """The ``failed_*`` reasons and their counts."""
        return {k: v for k, v in sorted(self.dropped.items()) if k.startswith(FAILED_PREFIX) and v}

    def unbalanced(self) -> int:
        """Records neither kept nor dropped for a reason (0 when every record is accounted for)."""
        return self.records_in - self.records_out - sum(self.dropped.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "dropped": dict(sorted(self.dropped.items())),
            "counts": dict(sorted(self.counts.items())),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Stats":
        return cls(d["records_in"], d["records_out"], Counter(d["dropped"]), Counter(d["counts"]))


@dataclass(frozen=True)
class Shard:
    """One independent unit of work. ``key`` names it within the stage (a file stem, a bucket)."""

    key: str
    inputs: tuple[str, ...] = ()  # input file paths (absolute) this shard reads
    params: tuple[tuple[str, Any], ...] = ()  # JSON-able settings specific to this shard
    weight: int = 0  # for scheduling: larger shards start first (e.g. input bytes)

    def param(self, name: str, default: Any = None) -> Any:
        return dict(self.params).get(name, default)


def keys(section: str, *names: str) -> tuple[str, ...]:
    """``("section.a", "section.b", ...)``: a stage's declared keys of one section."""
    return tuple(f"{section}.{n}" for n in names)


@dataclass
class StageContext:
    """Everything a stage may read, and only that. Plain data, so it pickles into worker processes.

    ``config`` holds only the keys the stage declares (``Stage.uses``, ``Stage.tunes``,
    ``Stage.input_keys``), and ``upstream`` / ``manifests`` only its declared upstream stages:
    reading anything else fails, so an undeclared dependency cannot leave an output stale unnoticed.
    """

    stage: str
    data_dir: Path
    work_dir: Path  # data/work/<stage>: for the stage's own state (caches), not outputs
    config: Config
    inputs: list[Path]  # raw input files, resolved from config
    upstream: dict[str, list[Path]]  # stage name -> its output files (absolute), sorted
    progress: bool = True
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)  # upstream stage -> its manifest

    @property
    def section(self) -> str:
        return self.stage

    @property
    def seed(self) -> int:
        """``run.seed``, which a stage that draws anything at random declares in its ``uses``."""
        return self.config["run.seed"]

    @property
    def params(self) -> dict[str, Any]:
        """The stage's own config section (``[ingest_reddit]`` for ingest_reddit...)."""
        return self.config.section(self.stage)

    def manifest(self, stage: str) -> dict[str, Any]:
        """The manifest of a declared upstream stage."""
        if stage not in self.manifests:
            raise KeyError(f"stage {self.stage} reads the manifest of {stage!r}, which it does not declare "
                           f"in its upstream")
        return self.manifests[stage]

    def upstream_files(self, stage: str, dataset: str | None = None, suffix: str = ".parquet") -> list[Path]:
        """Output files of ``stage``; with ``dataset``, only those under that sub-folder."""
        if stage not in self.upstream:
            raise KeyError(f"stage {self.stage} reads outputs of {stage!r}, which it does not declare in its upstream")
        files = self.upstream[stage]
        if dataset is not None:
            files = [p for p in files if p.parent.name == dataset]
        return [p for p in files if p.name.endswith(suffix)]


class Stage:
    """Base class. Subclasses set the class attributes and implement ``run_shard``.

    Attributes:
        name: the stage's name (CLI, ``data/work/<name>``, config section, test and doc names).
        version: bump when code changes what the stage outputs; makes old outputs stale.
        unit: what its counts count (records, comments, users, examples...).
        upstream: stages whose outputs or manifests this stage reads.
        uses: the config keys whose values decide its output, each by name (as DVC declares a
            stage's params; ``"section.table.*"`` for every key of a table): exactly these are
            hashed into its fingerprint, so a change to one makes it stale, and nothing else does.
        tunes: config keys it reads that only change how the work is done (timeouts, retries,
            concurrency, threads, where requests go, cost caps): served, never hashed, so
            changing one never makes anything stale.
        input_keys: config keys that list raw input files, directories or globs (the files'
            contents are hashed, not the paths written in the key).
        parallel: whether shards may run in separate processes at once (``prepare`` may
            decide it for one run, e.g. by the configured backend).

    Every key of the stage's own section is in exactly one of ``uses``, ``tunes`` and
    ``input_keys`` (tests/framework/test_layout.py checks it), and a stage reads no other key.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    #: What ``records_in``, ``records_out`` and ``dropped`` count (named in the manifest).
    unit: ClassVar[str] = "records"
    upstream: ClassVar[tuple[str, ...]] = ()
    uses: ClassVar[tuple[str, ...]] = ()
    tunes: ClassVar[tuple[str, ...]] = ()
    input_keys: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    #: False: shards run one after another in one process (a stage that holds a model in
    #: memory, or that runs its own concurrency against an API).
    parallel: ClassVar[bool] = True

    def accepts_input(self, path: Path) -> bool:
        """Whether a file found in an input directory is one of this stage's inputs."""
        return not path.name.startswith(".")

    def prepare(self, config: Config, data_dir: Path) -> None:
        """Create state the stage needs before it is planned and run (e.g. a key); runs only
        for ``alignx run``, never for ``status``."""

    def fingerprint_extra(self, config: Config, data_dir: Path) -> dict[str, str]:
        """Values outside the config that decide the output (e.g. a key's public id); they are
        hashed into the fingerprint and recorded in the manifest, so must hold no secret."""
        return {}

    def failure_hint(self, config: Config) -> str:
        """Where failed items failed (e.g. "endpoint http://host/v1"), for the error when too
        many did ("" for none)."""
        return ""

    def summary(self, manifest: dict[str, Any]) -> str:
        """A short line of the stage's own figures for ``alignx status`` ("" for none)."""
        return ""

    @property
    def section(self) -> str:
        """The stage's config section: its name."""
        return self.name

    def used_keys(self, config: Config) -> list[str]:
        """``uses`` as the config's dotted keys (tables expanded): what the fingerprint covers."""
        return _expand(self.name, self.uses, config)

    def served_keys(self, config: Config) -> list[str]:
        """Every key the stage may read: ``uses``, ``tunes`` and ``input_keys``."""
        return _expand(self.name, (*self.uses, *self.tunes, *self.input_keys), config)

    def view(self, config: Config) -> Config:
        """``config`` as this stage may read it (the keys it declares), for every call into it."""
        return config.restrict(self.served_keys(config), self.name)

    def external_outputs(self, config: Config, data_dir: Path) -> list[Path]:
        """Files or folders the stage writes outside its work folder (a release, a private map).
        Every file under them is hashed into the manifest, so a deleted or modified one makes
        the stage stale."""
        return []

    def shards(self, ctx: StageContext) -> list[Shard]:
        """Split the work; the default is one shard over all inputs."""
        return [Shard("all", tuple(str(p) for p in ctx.inputs))]

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        """Write this shard's files under ``out_dir`` (a fresh private folder) and return its counts."""
        raise NotImplementedError

    def finish(self, ctx: StageContext, parts: list[Path], stats: Stats, out_dir: Path) -> Stats:
        """Combine finished shard folders (in shard order) into the stage's outputs under ``out_dir``.

        ``stats`` is the sum of the shards' counts. The default links every part's files into
        ``out_dir`` unchanged, so shard outputs become stage outputs.
        """
        for part in parts:
            for src in sorted(part.rglob("*")):
                if src.is_file() and not src.name.startswith("_"):
                    dst = out_dir / src.relative_to(part)
                    if dst.exists():
                        raise RuntimeError(f"{self.name}: two shards wrote {dst.relative_to(out_dir)}")
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        os.link(src, dst)
                    except OSError:
                        shutil.copy2(src, dst)
        return stats


def _expand(stage: str, declared: tuple[str, ...], config: Config) -> list[str]:
    out: dict[str, None] = {}
    for key in declared:
        if key.endswith(".*"):
            found = [k for k in config.values if k.startswith(key[:-1])]
        else:
            found = [key] if key in config.values else []
        if not found:  # a typo, or a key renamed under the stage: its changes would go unnoticed
            raise RuntimeError(f"stage {stage} declares '{key}', which configs/default.toml does not define")
        out.update(dict.fromkeys(found))
    return list(out)
