"""Stage `cluster`: see `stage.py`."""
