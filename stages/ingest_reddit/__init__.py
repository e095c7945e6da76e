"""Stage `ingest_reddit`: see `stage.py`."""
