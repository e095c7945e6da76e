"""Stage `ingest_alignment`: see `stage.py`."""
