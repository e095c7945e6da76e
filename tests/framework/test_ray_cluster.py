"""Joining a Ray cluster of several nodes (issue 29 item 4). The build on a real 3-node cluster
(`ray start` head + 2 workers, byte-identical to the local build) takes about 2 minutes here,
so it runs as `make ray-cluster` (scripts/ray_cluster_check.py), not in the suite. These tests
cover what a user meets before and around it: an address nothing answers at is one line, at
once; a worker that lacks the run's pseudonymization key stops the build instead of writing
a new key and other pseudonyms."""

from __future__ import annotations

import socket

import pytest

from alignx.privacy import KEY_ENV, key_id
from pipeline.errors import UserError
from pipeline.executors import RayExecutor, _host_port, check_reachable
from stages.anonymize.stage import Anonymize

from conftest import alignx


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cluster_addresses_are_parsed_and_auto_is_left_to_ray():
    assert _host_port("127.0.0.2:6379") == ("127.0.0.2", 6379)
    assert _host_port("ray://head.example:10001") == ("head.example", 10001)
    assert _host_port("[::1]:6379") == ("::1", 6379)
    assert _host_port("auto") is None and _host_port("") is None


def test_an_address_nothing_answers_at_is_one_line_saying_what_to_do():
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(UserError) as err:
        check_reachable(address, timeout=5)
    message = str(err.value)
    assert address in message and "\n" not in message
    assert "ray start --head" in message
    RayExecutor("").check()  # a local instance needs no address
    RayExecutor("auto").check()  # resolved by Ray itself


def test_a_worker_without_the_runs_key_stops_instead_of_generating_one(tmp_path, monkeypatch):
    """A Ray node started without $ALIGNX_PSEUDONYM_KEY would find no key in the data dir and
    write a new one: every user it saw would get other pseudonyms, silently."""
    stage = Anonymize()
    params = {"key_file": "private/pseudonym.key"}
    run_key = "the-run-key-" + "r" * 40
    stage._key_id = key_id(run_key.encode())  # what prepare() found where the run was planned
    monkeypatch.setenv(KEY_ENV, run_key)
    assert stage._shard_key(params, tmp_path) == run_key.encode()

    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(UserError) as err:
        stage._shard_key(params, tmp_path)
    assert "no pseudonymization key" in str(err.value) and KEY_ENV in str(err.value)
    assert not (tmp_path / params["key_file"]).exists()  # no key generated

    other = "another-key-" + "o" * 40
    monkeypatch.setenv(KEY_ENV, other)
    with pytest.raises(UserError) as err:
        stage._shard_key(params, tmp_path)
    assert key_id(other.encode()) in str(err.value)
    assert other not in str(err.value) and run_key not in str(err.value)  # key ids only, never a key


@pytest.mark.e2e
def test_run_with_an_unreachable_cluster_exits_2_in_one_line_before_any_stage(tmp_path):
    pytest.importorskip("ray", reason="Ray is a test dependency: pip install -e '.[test]'")
    address = f"127.0.0.1:{_closed_port()}"
    proc = alignx("run", "--engine", "ray", "--ray-address", address, data_dir=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and address in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").glob("*/_manifest.json"))
