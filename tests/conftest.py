"""Shared fixtures. Real test data is read from ../shared/data (beside the repository);
tests that need it skip, saying so, where it is absent. Never copy it into the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
    cmd = [sys.executable, "-m", "pipeline", *args, "--data-dir", str(data_dir)]
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
