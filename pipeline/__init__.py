"""alignx-pipeline's framework: configuration, the stage contract, the runner, manifests,
provenance and shard IO. It knows no stage and no AlignX domain code (a test asserts it):
stages live in ``stages/``, and the command line (``cli/``) hands them to the runner.
"""

__version__ = "0.1.0"
