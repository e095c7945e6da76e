"""The Ray engine runs the same stages unchanged: its release is byte-identical to the local
engine's. A local Ray instance with 2 CPUs is started by the command itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DEMO_ARGS, DEMO_ENV, SAMPLE_REDDIT, alignx, copy_inputs, release_of

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset

ENV = {**DEMO_ENV, "RAY_USAGE_STATS_ENABLED": "0"}


def build(data_dir: Path, *args: str) -> Path:
    """The demo build (conftest's settings, as the session's ``built``), with ``args`` on top."""
    copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), data_dir / "raw" / "reddit")
    alignx("run", *DEMO_ARGS, "--set", "execution.workers=2", *args, data_dir=data_dir, env=ENV)
    return release_of(data_dir)


@pytest.mark.timeout(900)
def test_ray_release_is_byte_identical_to_local(tmp_path, built):
    pytest.importorskip("ray", reason="Ray is a test dependency: pip install -e '.[test]'")
    local = built[1]  # the session's demo build: the local engine, the same settings
    ray_release = build(tmp_path / "ray", "--engine", "ray")
    assert (ray_release / "checksums.sha256").read_text() == (local / "checksums.sha256").read_text()
    for f in local.glob("*.parquet"):
        assert (ray_release / f.name).read_bytes() == f.read_bytes()
