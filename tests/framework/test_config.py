"""Configuration: defaults, files, --set overrides, and the errors users see."""

import pytest

from pipeline.config import keys_hash, load_config
from pipeline.errors import UserError

from conftest import alignx


def test_defaults_load_and_every_key_is_documented():
    cfg = load_config()
    assert cfg["ingest_reddit.min_length"] == 10
    assert cfg["ingest_reddit.inputs"] == ["sample/reddit"]
    # every key (or a group of adjacent keys) in default.toml has a comment right above it
    from pipeline.config import DEFAULT_CONFIG

    lines = DEFAULT_CONFIG.read_text().splitlines()
    is_key = [("=" in l and not l.lstrip().startswith("#")) for l in lines]
    for i, line in enumerate(lines):
        if is_key[i]:
            j = i - 1
            while j >= 0 and is_key[j]:
                j -= 1
            assert lines[j].lstrip().startswith("#"), f"undocumented key: {line}"


def test_set_overrides_parse_toml_values_and_bare_strings():
    cfg = load_config(overrides=["ingest_reddit.min_length=25", "ingest_reddit.drop_nsfw=false",
                                 "ingest_reddit.inputs=/dumps/RC_*.zst", 'ingest_reddit.subreddits_allow=["a", "b"]'])
    assert cfg["ingest_reddit.min_length"] == 25
    assert cfg["ingest_reddit.drop_nsfw"] is False
    assert cfg["ingest_reddit.inputs"] == ["/dumps/RC_*.zst"]
    assert cfg["ingest_reddit.subreddits_allow"] == ["a", "b"]


def test_unknown_key_names_the_closest_valid_one():
    with pytest.raises(UserError) as err:
        load_config(overrides=["ingest_reddit.min_lenght=5"])
    assert "unknown key 'ingest_reddit.min_lenght'" in str(err.value)
    assert "did you mean 'ingest_reddit.min_length'" in str(err.value)


def test_unknown_key_in_a_file_names_the_file(tmp_path):
    f = tmp_path / "my.toml"
    f.write_text("[ingest_reddit]\nmax_lenght = 3\n")
    with pytest.raises(UserError) as err:
        load_config(f)
    assert str(f) in str(err.value) and "ingest_reddit.max_length" in str(err.value)


def test_wrong_type_and_bad_toml_are_clear(tmp_path):
    with pytest.raises(UserError, match="'ingest_reddit.min_length' must be an integer"):
        load_config(overrides=["ingest_reddit.min_length=short"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[reddit\nmin_length = 3\n")
    with pytest.raises(UserError, match=f"{bad}: invalid TOML"):
        load_config(bad)


def test_execution_settings_never_change_a_stage_hash():
    a = load_config()
    b = load_config(overrides=["execution.workers=7", "execution.progress=false"])
    c = load_config(overrides=["ingest_reddit.min_length=11"])
    keys = ["ingest_reddit.min_length", "execution.workers", "execution.progress"]
    assert keys_hash(a, keys) == keys_hash(b, keys)
    assert keys_hash(a, keys) != keys_hash(c, keys)


def test_an_old_section_name_names_the_new_one(tmp_path):
    with pytest.raises(UserError, match=r"section \[reddit\] is now \[ingest_reddit\]: use ingest_reddit.min_length"):
        load_config(overrides=["reddit.min_length=5"])
    f = tmp_path / "old.toml"
    f.write_text("[alignment]\npku_inputs = []\n")
    with pytest.raises(UserError, match=r"is now \[ingest_alignment\]"):
        load_config(f)


def test_decontamination_keys_moved_to_their_own_section(tmp_path):
    """Issue 16 asks for ``[decontaminate] benchmarks = [...]``; the keys that lived in [assemble]
    fail naming the new ones, from --set and from a file."""
    with pytest.raises(UserError, match=r"assemble.decontaminate is now decontaminate.benchmarks "
                                        r"\(section \[decontaminate\]\): use decontaminate.benchmarks"):
        load_config(overrides=['assemble.decontaminate=["p-soups.json"]'])
    f = tmp_path / "old.toml"
    f.write_text("[assemble]\ndecontaminate_ngram = 8\n")
    with pytest.raises(UserError, match=r"use decontaminate.ngram"):
        load_config(f)
    c = load_config(overrides=['decontaminate.benchmarks=["p-soups.json"]', "decontaminate.ngram=8"])
    assert c.section("decontaminate") == {"benchmarks": ["p-soups.json"], "ngram": 8}
    with pytest.raises(UserError, match="decontaminate.ngram"):
        load_config(overrides=["decontaminate.ngram=0"])


@pytest.mark.e2e
def test_cli_reports_bad_key_in_one_line_without_traceback(tmp_path):
    proc = alignx("run", "--set", "ingest_reddit.min_lenght=5", data_dir=tmp_path, check=False)
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert "ingest_reddit.min_lenght" in lines[0] and "ingest_reddit.min_length" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.e2e
def test_cli_missing_input_names_the_key_and_path(tmp_path):
    proc = alignx("run", "--set", "ingest_reddit.inputs=raw/nothing-here", data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ingest_reddit.inputs" in proc.stderr and "raw/nothing-here" in proc.stderr


@pytest.mark.e2e
def test_cli_missing_config_file(tmp_path):
    proc = alignx("status", "--config", str(tmp_path / "nope.toml"), data_dir=tmp_path, check=False)
    assert proc.returncode == 2 and "nope.toml: configuration file not found" in proc.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_float_key_rejects_nan_and_infinity_naming_the_key(value, tmp_path):
    """NaN passes every schema bound (each comparison with it is false): max_failed_share = nan
    once let an annotate with every item failed commit as done."""
    floats = sorted(k for k, v in load_config().values.items() if isinstance(v, float))
    assert "execution.max_failed_share" in floats and "assemble.test_share" in floats
    for key in floats:
        with pytest.raises(UserError, match=rf"^--set: '{key}' = -?(nan|inf) must be a finite number"):
            load_config(overrides=[f"{key}={value}"])
    section, name = floats[0].split(".", 1)
    user = tmp_path / "user.toml"
    user.write_text(f"[{section}]\n{name} = {value}\n")
    with pytest.raises(UserError, match=rf"^{user}: '{floats[0]}' = -?(nan|inf) must be a finite number"):
        load_config(user)
