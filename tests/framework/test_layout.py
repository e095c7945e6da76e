"""The layout's rules: the layers (pipeline < alignx < annotators < stages < cli, docs/design.md
section 3) import only downwards, no stage imports another, nothing imports in a cycle, a stage
reads only what it declares, and every file a stage writes is under its manifest."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import UndeclaredRead, load_config
from pipeline.manifest import read_manifest
from pipeline.runner import Runner
from pipeline.stage import Shard, Stage, StageContext, Stats

from conftest import DEMO_ARGS, DEMO_ENV, ROOT, alignx

#: The layers, lowest first: each imports only the ones before it.
PACKAGES = ("pipeline", "alignx", "annotators", "stages", "cli")


def _loaded_above(package: str) -> list[str]:
    """Project modules of a higher layer loaded by importing every module of ``package`` (in a
    fresh interpreter, so an import hidden in a string or a plugin hook counts too)."""
    above = PACKAGES[PACKAGES.index(package) + 1:]
    code = (f"import pkgutil, importlib, sys, {package}\n"
            f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
            "    importlib.import_module(m.name)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {above!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return ast.literal_eval(out)


@pytest.mark.e2e
def test_importing_the_framework_pulls_in_no_stage_and_no_domain_code():
    assert _loaded_above("pipeline") == []


@pytest.mark.e2e
def test_importing_the_domain_code_and_the_annotators_pulls_in_no_stage_and_no_command_line():
    assert _loaded_above("annotators") == []  # walks the annotators and, through them, alignx
    assert _loaded_above("alignx") == []


@pytest.mark.e2e
def test_importing_one_stage_loads_no_other_stage():
    code = "import sys, stages.emit.stage\nprint(sorted({m.split('.')[1] for m in sys.modules if m.startswith('stages.')}))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert ast.literal_eval(out) == ["emit"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """module -> project modules it imports (at module level or inside functions)."""
    files = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and t.split(".")[0] in PACKAGES:
                    edges.add(t)
        graph[name] = edges
    return graph


def test_no_import_cycle_anywhere():
    graph = _import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n] if n in stack else [m, n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    # a package's __init__ importing its own submodules is how Python packages work, not a cycle
    real = [c for c in cycles if not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:]))]
    assert real == []


def _layer(module: str) -> int:
    return PACKAGES.index(module.split(".")[0])


def test_every_import_goes_down_the_layers():
    """pipeline imports nothing of the project; alignx only pipeline; annotators no stage and no
    command line; stages no command line (module-level and function-level imports alike)."""
    graph = _import_graph()
    up = {m: sorted(e for e in edges if _layer(e) > _layer(m)) for m, edges in graph.items()}
    assert {m: e for m, e in up.items() if e} == {}


def test_no_stage_imports_another_stage():
    graph = _import_graph()

    def stage_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if parts[0] == "stages" and len(parts) > 1 else None

    crossing = {m: sorted(e for e in edges if stage_of(e) and stage_of(e) != stage_of(m))
                for m, edges in graph.items() if m.split(".")[0] == "stages"}
    assert {m: e for m, e in crossing.items() if e} == {}


def test_every_stage_is_found_by_its_name():
    from cli.stages import STAGES

    config = load_config()
    for cls in STAGES:
        name = cls.name
        assert (ROOT / "stages" / name / "stage.py").is_file()
        assert cls.__module__ == f"stages.{name}.stage"
        assert any(k.startswith(name + ".") for k in config.values), f"no [{name}] section"
        assert list((ROOT / "tests" / "stages").glob(f"test_{name}*.py")), f"no tests/stages/test_{name}.py"
        assert (ROOT / "docs" / "stages" / f"{name}.md").is_file(), f"no docs/stages/{name}.md"
        assert f"(docs/stages/{name}.md)" in (ROOT / "README.md").read_text(), f"README's stage table lacks {name}"


# -- a stage reads only what it declares -------------------------------------------------------
class Toy(Stage):
    """Writes one file from ``ingest_reddit.min_length``; optionally a file outside its work folder."""

    name = "toy"
    version = "1"
    uses = ("ingest_reddit.min_length",)
    external = False
    peek = ""  # a config key to read during the run

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        if self.peek:
            ctx.config[self.peek]
        (out_dir / "value.txt").write_text(str(ctx.config["ingest_reddit.min_length"]))
        return Stats(1, 1)

    def finish(self, ctx, parts, stats, out_dir):
        stats = super().finish(ctx, parts, stats, out_dir)
        if self.external:
            pub = ctx.data_dir / "published"
            pub.mkdir(exist_ok=True)
            (pub / "value.txt").write_text((out_dir / "value.txt").read_text())
        return stats

    def external_outputs(self, config, data_dir: Path) -> list[Path]:
        return [data_dir / "published"] if self.external else []


def _runner(tmp_path: Path, stage: Stage, *sets: str) -> Runner:
    return Runner([stage], load_config(overrides=list(sets)), tmp_path, workers=1, show_progress=False)


def test_an_undeclared_config_read_fails_and_a_declared_one_makes_the_stage_stale(tmp_path):
    toy = Toy()
    toy.peek = "annotate.model"
    with pytest.raises(UndeclaredRead, match=r"stage toy reads 'annotate.model' but does not declare it"):
        _runner(tmp_path, toy).run()
    toy.peek = "ingest_reddit.max_length"  # another key of a section it does read
    with pytest.raises(UndeclaredRead, match=r"stage toy reads 'ingest_reddit.max_length' but does not declare it"):
        _runner(tmp_path, toy).run()
    toy.peek = ""
    _runner(tmp_path, toy).run()
    assert _runner(tmp_path, toy).plan(toy).up_to_date
    plan = _runner(tmp_path, toy, "ingest_reddit.min_length=3").plan(toy)
    assert plan.state == "stale" and plan.reasons == ["config changed: ingest_reddit.min_length"]
    assert _runner(tmp_path, toy, "annotate.model=other").plan(toy).up_to_date  # not declared: not read
    assert _runner(tmp_path, toy, "ingest_reddit.max_length=99").plan(toy).up_to_date  # per key, not per section


def test_an_external_output_is_in_the_manifest_and_rebuilt_when_missing_or_modified(tmp_path):
    toy = Toy()
    toy.external = True
    _runner(tmp_path, toy).run()
    outputs = read_manifest(tmp_path, "toy")["outputs"]
    assert "published/value.txt" in outputs
    (tmp_path / "published" / "value.txt").write_text("tampered")
    plan = _runner(tmp_path, toy).plan(toy)
    assert plan.reasons == ["output modified: published/value.txt"]
    _runner(tmp_path, toy).run()
    assert (tmp_path / "published" / "value.txt").read_text() == "10"
    shutil.rmtree(tmp_path / "published")
    assert _runner(tmp_path, toy).plan(toy).reasons == ["output missing: published/value.txt"]
    _runner(tmp_path, toy).run()
    assert (tmp_path / "published" / "value.txt").read_text() == "10"


def test_upstream_outputs_and_manifests_of_undeclared_stages_are_refused():
    ctx = StageContext(stage="toy", data_dir=Path("."), work_dir=Path("."), config=load_config(),
                       inputs=[], upstream={"a": []}, manifests={"a": {}})
    assert ctx.upstream_files("a") == [] and ctx.manifest("a") == {}
    with pytest.raises(KeyError, match="does not declare"):
        ctx.upstream_files("b")
    with pytest.raises(KeyError, match="does not declare"):
        ctx.manifest("b")


# -- on the demo build ------------------------------------------------------------------------
#: Files a build writes that are no stage's output: logs, manifests, caches, keys, finished shards.
NOT_OUTPUTS = ("log.txt", "_manifest.json", ".hashcache.json", ".lock")


@pytest.mark.e2e
def test_every_file_a_stage_writes_is_in_its_manifest(built):
    d, _ = built
    listed = set()
    for m in (json.loads(p.read_text()) for p in (d / "work").glob("*/_manifest.json")):
        listed |= set(m["outputs"])
    written = {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}
    unlisted = sorted(
        p for p in written - listed
        if not p.startswith(("raw/", "cache/", "private/pseudonym.key", "private/optout"))
        and "/parts/" not in p and not p.endswith(NOT_OUTPUTS)
        and not p.startswith("work/evaluate/adhoc")
    )
    assert unlisted == []


def _status(d: Path, *sets: str) -> dict[str, str]:
    out = alignx("status", *DEMO_ARGS, *(x for s in sets for x in ("--set", s)), data_dir=d, env=DEMO_ENV).stdout
    return {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}


@pytest.mark.e2e
def test_a_setting_another_stage_reads_makes_it_stale(built, tmp_path):
    """annotate.model does not change what the embedding backend writes, but assemble (LLM-written
    Demographic Information) uses it: after annotate reruns it is still stale, by that key."""
    src, _ = built
    d = tmp_path / "data"
    shutil.copytree(src, d, symlinks=True)
    alignx("run", "annotate", *DEMO_ARGS, "--set", "annotate.model=another-model", data_dir=d, env=DEMO_ENV)
    lines = _status(d, "annotate.model=another-model")
    assert "up to date" in lines["annotate"]
    assert "stale" in lines["assemble"] and "config changed: annotate.model" in lines["assemble"]
    assert "stale" in lines["evaluate"] and "upstream emit will rerun first" in lines["evaluate"]


@pytest.mark.e2e
def test_a_fingerprint_covers_the_keys_a_stage_uses_and_no_other(built):
    """Per key, not per section: settings that only change how work is done (timeouts, retries,
    concurrency, threads, workers) make nothing stale; a key of another stage's section that a
    stage does not use (anonymize.mention_style for ingest_reddit) does not re-parse the dumps."""
    d, _ = built
    how = ("annotate.timeout_s=99", "annotate.max_retries=1", "annotate.concurrency=3", "annotate.invalid_retries=0",
           "ingest_reddit.parse_threads=1", "ingest_reddit.chunk_mb=2", "execution.workers=1",
           "execution.progress=false", "assemble.paraphrase_max_cost=5")
    lines = _status(d, *how)
    assert all("up to date" in line for line in lines.values()), lines
    lines = _status(d, "anonymize.mention_style=pseudonym")
    assert "up to date" in lines["ingest_reddit"]
    assert "stale  (config changed: anonymize.mention_style)" in lines["anonymize"]


def test_every_key_is_declared_by_the_stages_that_read_it():
    """Each key of a stage's own section is in exactly one of its uses, tunes and input_keys; every
    key outside [execution] is declared by some stage (or it is a setting nothing reads)."""
    from pipeline.stage import _expand
    from cli.stages import build

    config = load_config()
    declared: set[str] = set()
    for stage in build():
        uses = set(stage.used_keys(config))
        tunes = set(_expand(stage.name, stage.tunes, config))
        inputs = set(_expand(stage.name, stage.input_keys, config))
        assert not (uses & tunes or uses & inputs or tunes & inputs), stage.name
        own = {k for k in config.values if k.startswith(stage.name + ".")}
        assert own <= uses | tunes | inputs, (stage.name, sorted(own - uses - tunes - inputs))
        declared |= uses | tunes | inputs
        assert not any(k.startswith("execution.") for k in uses | tunes), stage.name
    everything = {k for k in config.values if not k.startswith("execution.")}
    assert everything - declared == set()
