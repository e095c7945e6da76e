"""The stages, in build order. Each module holds one stage; its config section, tests
(``tests/test_<stage>.py``) and README row carry the same name."""

from __future__ import annotations

from pipeline.stage import Stage
from stages.annotate import Annotate
from stages.assemble import Assemble
from stages.anonymize import Anonymize
from stages.cluster import Cluster
from stages.emit import Emit
from stages.evaluate import Evaluate
from stages.ingest_alignment import IngestAlignment
from stages.ingest_reddit import IngestReddit

STAGES: list[Stage] = [IngestReddit(), IngestAlignment(), Anonymize(), Annotate(), Cluster(), Assemble(), Emit(), Evaluate()]


def get_stage(name: str) -> Stage:
    for stage in STAGES:
        if stage.name == name:
            return stage
    raise KeyError(name)
