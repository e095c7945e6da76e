"""The Ray engine runs the same stages unchanged: its release is byte-identical to the local
engine's. A local Ray instance with 2 CPUs is started by the command itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import SAMPLE_REDDIT, alignx, copy_inputs, release_of

pytestmark = pytest.mark.e2e  # every test here runs the command line in a subprocess or builds a dataset

ENV = {"ALIGNX_PSEUDONYM_KEY": "engine-test-key-" + "e" * 40, "RAY_USAGE_STATS_ENABLED": "0"}


def build(data_dir: Path, *args: str) -> Path:
    copy_inputs(sorted(SAMPLE_REDDIT.glob("*.zst")), data_dir / "raw" / "reddit")
    copy_inputs(sorted((SAMPLE_REDDIT.parent / "alignment").glob("*.jsonl")), data_dir / "sample" / "alignment")
    alignx("run", "--set", "ingest_reddit.inputs=raw/reddit", "--set", "execution.workers=2", *args,
           data_dir=data_dir, env=ENV)
    return release_of(data_dir)


@pytest.mark.timeout(900)
def test_ray_release_is_byte_identical_to_local(tmp_path):
    pytest.importorskip("ray", reason="Ray is a test dependency: pip install -e '.[test]'")
    local = build(tmp_path / "local")
    ray_release = build(tmp_path / "ray", "--engine", "ray")
    assert (ray_release / "checksums.sha256").read_text() == (local / "checksums.sha256").read_text()
    for f in local.glob("*.parquet"):
        assert (ray_release / f.name).read_bytes() == f.read_bytes()
