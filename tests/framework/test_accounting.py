"""The runner's bookkeeping: counts balance in the stage's unit, failed items make a stage
incomplete (or fail it), later stages refuse an incomplete upstream, secrets are redacted."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.errors import StageFailed
from pipeline.manifest import read_manifest
from pipeline.runner import Runner
from pipeline.secrets import redact, register
from pipeline.stage import Shard, Stage, StageContext, Stats


class Items(Stage):
    """Ten items per shard, two shards; ``fail`` of them fail (``failed_timeout``) on the first try."""

    name = "items"
    version = "1"
    unit = "items"
    fail = 0
    lose = 0  # items neither kept nor dropped: a bug the runner must catch

    def shards(self, ctx: StageContext) -> list[Shard]:
        return [Shard("a"), Shard("b")]

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        failed = self.fail if shard.key == "a" else 0
        (out_dir / f"{shard.key}.txt").write_text(str(10 - failed))
        stats = Stats(records_in=10, records_out=10 - failed - self.lose)
        if failed:
            stats.dropped["failed_timeout"] = failed
        return stats

    def failure_hint(self, config) -> str:
        return "at the endpoint http://example.invalid/v1"


class After(Stage):
    name = "after"
    version = "1"
    upstream = ("items",)

    def run_shard(self, ctx: StageContext, shard: Shard, out_dir: Path) -> Stats:
        (out_dir / "x.txt").write_text("x")
        return Stats(1, 1)


def runner(tmp_path: Path, *stages: Stage, sets: tuple[str, ...] = ()) -> Runner:
    return Runner(list(stages), load_config(overrides=list(sets)), tmp_path, workers=1, show_progress=False)


def test_counts_that_do_not_balance_are_never_committed(tmp_path):
    stage = Items()
    stage.lose = 1
    with pytest.raises(StageFailed, match=r"items: its counts do not balance: 20 items in, 18 out, 0 dropped "
                                          r"\(2 unaccounted for\)"):
        runner(tmp_path, stage).run()
    assert read_manifest(tmp_path, "items") is None


def test_too_many_failures_fail_the_stage_naming_where(tmp_path):
    stage = Items()
    stage.fail = 3  # 3 of 20 = 15%
    with pytest.raises(StageFailed) as err:
        runner(tmp_path, stage).run()
    assert str(err.value) == (
        "items: 3 of 20 items failed (failed_timeout 3) at the endpoint http://example.invalid/v1, more than "
        "execution.max_failed_share=0.01; the previous output is kept and a rerun retries only the failed items")
    assert read_manifest(tmp_path, "items") is None


def test_a_few_failures_make_the_stage_incomplete_and_block_what_follows(tmp_path):
    stage, after = Items(), After()
    stage.fail = 3
    sets = ("execution.max_failed_share=0.2",)
    with pytest.raises(StageFailed, match="after not run: upstream items is incomplete: 3 failed "
                                          r"\(failed_timeout 3\); a rerun retries them"):
        runner(tmp_path, stage, after, sets=sets).run()
    m = read_manifest(tmp_path, "items")
    assert m["failed"] == 3 and m["unit"] == "items" and m["records_in"] == 20
    r = runner(tmp_path, stage, after, sets=sets)
    plan = r.plan(stage)
    assert plan.state == "incomplete" and not plan.up_to_date
    # accepted: what follows runs on the incomplete output
    runner(tmp_path, stage, after, sets=(*sets, "execution.accept_incomplete=true")).run(["after"])
    assert read_manifest(tmp_path, "after") is not None
    # the next run retries: the failed shard reruns, the finished one is reused
    stage.fail = 0
    runner(tmp_path, stage, after, sets=sets).run()
    m = read_manifest(tmp_path, "items")
    assert m["failed"] == 0 and m["records_out"] == 20 and m["shards"] == {"total": 2, "resumed": 1}
    assert runner(tmp_path, stage, after, sets=sets).plan(stage).up_to_date


def test_secrets_are_redacted_from_text_and_logs(monkeypatch, caplog):
    register("my-configured-key-123")
    monkeypatch.setenv("SOME_API_KEY", "env-secret-value")
    text = ("401: Incorrect API key provided: my-configured-key-123; env-secret-value; "
            "Authorization: Bearer abc.def-ghi; other sk-proj-AbC123xyz; api_key=hunter22")
    clean = redact(text)
    for secret in ("my-configured-key-123", "env-secret-value", "abc.def-ghi", "sk-proj-AbC123xyz", "hunter22"):
        assert secret not in clean
    assert clean.startswith("401: Incorrect API key provided: <redacted>")
    from pipeline.logs import get_logger, setup_logging
    from pipeline.secrets import RedactingFilter

    setup_logging()
    handler = logging.Handler()
    records = []
    handler.emit = lambda r: records.append(r.getMessage())
    handler.addFilter(RedactingFilter())
    get_logger().addHandler(handler)
    try:
        get_logger("test").warning("failed: %s", "key my-configured-key-123")
    finally:
        get_logger().removeHandler(handler)
    assert records == ["failed: key <redacted>"]


def test_a_secret_is_redacted_in_pieces_and_before_any_cut(monkeypatch):
    """A key cut by a length limit, or quoted in part, loses every run of 8+ of its characters;
    ``redact(text, limit)`` redacts first and cuts after, so no cut can split a key out of reach."""
    from pipeline.secrets import FRAGMENT

    key = "live-Zq8Kp2Wm7Xn4Rt6Yv9Bc3Df5Gh1Jk"  # no sk- shape: only its value identifies it
    monkeypatch.setenv("OPENAI_API_KEY", key)
    echoed = "." * 250 + f" invalid key {key}"
    clipped = redact(echoed, 300)
    assert len(clipped) <= 300 and "<redacted>" in clipped
    assert all(key[i:i + FRAGMENT] not in clipped for i in range(len(key) - FRAGMENT + 1))
    # a piece of the key already cut elsewhere (the first 17 characters), and one from its middle
    for piece in (key[:17], key[9:20]):
        assert redact(f"error: {piece}!") == "error: <redacted>!"
    assert redact(f"error: {key[:FRAGMENT - 1]}") == f"error: {key[:FRAGMENT - 1]}"  # too short to tell
