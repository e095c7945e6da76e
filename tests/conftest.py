"""Shared fixtures. Real test data is read from ../shared/data (beside the repository);
tests that need it skip, saying so, where it is absent. Never copy it into the project."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data"))
SAMPLE_REDDIT = ROOT / "data" / "sample" / "reddit"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not found at {SHARED_DATA} (set ALIGNX_SHARED_DATA to its path)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def reddit_dir(shared_data) -> Path:
    return shared_data / "reddit"


def alignx(*args: str, data_dir: Path, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (exit codes, stderr and kills behave as for a user)."""
    cmd = [sys.executable, "-m", "cli", *args, "--data-dir", str(data_dir)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def copy_inputs(files: list[Path], dest: Path) -> Path:
    """Copy input files into ``dest`` (a temporary raw folder a test may modify)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, dest / f.name)
    return dest


# -- the demo build shared by the assemble, emit and evaluate tests -----------------------------
DEMO_ENV = {"ALIGNX_PSEUDONYM_KEY": "release-test-key-" + "r" * 40}


#: The demo build's settings; a path relative to the data dir, so two data dirs share one configuration.
DEMO_ARGS = ("--set", "ingest_reddit.inputs=raw/reddit", "--set",
             f"ingest_alignment.pku_inputs={SAMPLE_REDDIT.parent / 'alignment' / 'pku_saferlhf.jsonl'}",
             "--set", f"ingest_alignment.ultrafeedback_inputs={SAMPLE_REDDIT.parent / 'alignment' / 'ultrafeedback.jsonl'}",
             "--set", f"ingest_alignment.helpsteer2_inputs={SAMPLE_REDDIT.parent / 'alignment' / 'helpsteer2.jsonl'}",
             "--set", "assemble.alignment_share=0.1")


def release_of(data_dir: Path) -> Path:
    """The release folder a build with the default ``emit.version`` writes into ``data_dir``."""
    from pipeline.config import load_config
    from stages.emit.stage import release_dir

    return release_dir(load_config(), data_dir)


def build_demo(data_dir: Path) -> Path:
    copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), data_dir / "raw" / "reddit")
    alignx("run", *DEMO_ARGS, data_dir=data_dir, env=DEMO_ENV)
    return release_of(data_dir)


def once(tmp_path_factory, name: str, make) -> Path:
    """The folder ``name``, filled by ``make(folder)`` once per test run however many processes
    ask: under pytest-xdist every worker shares the run's base temp folder, the first to take the
    lock makes it, the others wait and reuse it (a build is never made twice in one run)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's base folder, shared by its workers
    folder = base / name
    with open(base / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / f"{name}.made").exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed attempt left
            folder.mkdir()
            make(folder)
            (base / f"{name}.made").touch()
    return folder


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """The demo corpus built once per test run: (data dir, release dir). Read, never modify."""
    d = once(tmp_path_factory, "release", lambda folder: build_demo(folder / "data")) / "data"
    return d, release_of(d)


@pytest.fixture(scope="session")
def built_twice_at_once(tmp_path_factory):
    """The demo corpus built again into a fresh data dir by two ``alignx run`` started at once:
    (data dir, release dir, [(exit status, stderr) of each]). Whoever takes the writer lock first
    builds; the other must exit 2. Its release is a second build of the same inputs (``built``'s)."""
    def make(folder: Path) -> None:
        d = folder / "data"
        copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), d / "raw" / "reddit")
        cmd = [sys.executable, "-m", "cli", "run", *DEMO_ARGS, "--data-dir", str(d)]
        env = {**os.environ, **DEMO_ENV}
        env["ALIGNX_INJECT_HOLD_LOCK_S"] = "3"  # whoever takes the lock first surely still holds it
        procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        results = [(p.wait(), p.stderr.read()) for p in procs]
        (folder / "results.json").write_text(json.dumps(results))

    folder = once(tmp_path_factory, "release-twice", make)
    d = folder / "data"
    return d, release_of(d), [tuple(r) for r in json.loads((folder / "results.json").read_text())]


def split(release: Path, name: str) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in sorted(release.glob(f"{name}-*.parquet"))])


def examples(data_dir: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(next((data_dir / "work/assemble").glob(f"out-*/examples/{name}.parquet")))


# -- two tiers: fast in-process tests, and end-to-end tests marked e2e -------------------------
#: Whether the test being set up or run is marked e2e (set before its fixtures are).
_E2E = {"now": True}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _E2E["now"] = item.get_closest_marker("e2e") is not None


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(items):
    """Every test under tests/e2e/ is e2e; the fast tier first, so a run in one process reports a
    broken unit before the builds start (under `make test`'s --dist loadfile, the files holding
    fast tests are handed out first)."""
    for item in items:
        if "e2e" in Path(str(item.fspath)).relative_to(ROOT / "tests").parts[:1]:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


_popen_init = subprocess.Popen.__init__


def _python_only_in_e2e(self, args, *rest, **kwargs):
    """A fast test never starts Python (the command line, a script): that is what e2e marks."""
    first = args if isinstance(args, (str, bytes, os.PathLike)) else args[0]
    if not _E2E["now"] and str(first).startswith(sys.executable):
        raise RuntimeError("this test starts a Python process: mark it @pytest.mark.e2e (README, *Tests*)")
    _popen_init(self, args, *rest, **kwargs)


subprocess.Popen.__init__ = _python_only_in_e2e
