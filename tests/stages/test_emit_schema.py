"""Unit tests of emit's release schema and shard naming."""

from __future__ import annotations

import jsonschema
import pytest

from stages.emit.stage import json_schema, shard_paths


def example(**over) -> dict:
    e = {"id": "ax-" + "0" * 20, "source": "reddit", "persona_type": "all", "prompt": "p", "chosen": "c", "rejected": "r",
         "Preference Direction": [0.5] * 90, "Demographic Information": "",
         "User-Generated Content": [{"prompt": "p", "comment": "c", "Preference Direction": [1.0] + [0.5] * 89}],
         "Pair-wise Comparative Feedback": [], "score_ratio": 2.5, "seconds_between": -40, "length_ratio": 0.5}
    e.update(over)
    return e


def test_a_well_formed_example_validates():
    jsonschema.validate(example(), json_schema())
    # alignment-dataset rows have no community signals
    jsonschema.validate(example(score_ratio=None, seconds_between=None, length_ratio=None), json_schema())


@pytest.mark.parametrize("bad", [
    {"Preference Direction": [0.5] * 89},                       # 89 dimensions
    {"Preference Direction": [0.3] + [0.5] * 89},               # not in {0, 0.5, 1}
    {"User-Generated Content": [{"prompt": "p", "comment": "c", "Preference Direction": [0.5] * 90}] * 5},  # > 4
])
def test_malformed_examples_are_rejected(bad):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(example(**bad), json_schema())


def test_shard_names_cover_every_row_once():
    paths = shard_paths("train", 250, 100)
    assert [p[0] for p in paths] == ["train-00000-of-00003.parquet", "train-00001-of-00003.parquet",
                                     "train-00002-of-00003.parquet"]
    assert [(s, e) for _, s, e in paths] == [(0, 100), (100, 200), (200, 250)]
    assert shard_paths("test", 0, 100) == [("test-00000-of-00001.parquet", 0, 0)]
