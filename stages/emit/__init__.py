"""Stage `emit`: see `stage.py`."""
