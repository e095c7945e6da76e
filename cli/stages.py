"""The stages, in build order: the one list the command line hands to the runner.

It lives here, above the stages, so that importing one stage (``stages.emit.stage``) loads that
stage's modules alone, never the other seven."""

from __future__ import annotations

from pipeline.stage import Stage
from stages.annotate.stage import Annotate
from stages.anonymize.stage import Anonymize
from stages.assemble.stage import Assemble
from stages.cluster.stage import Cluster
from stages.emit.stage import Emit
from stages.evaluate.stage import Evaluate
from stages.ingest_alignment.stage import IngestAlignment
from stages.ingest_reddit.stage import IngestReddit

#: The stage classes in build order.
STAGES: list[type[Stage]] = [IngestReddit, IngestAlignment, Anonymize, Annotate, Cluster, Assemble, Emit, Evaluate]


def build() -> list[Stage]:
    """Fresh stage objects, one per stage, for one command."""
    return [cls() for cls in STAGES]
