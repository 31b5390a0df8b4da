"""TensorBoard's charrnn tab: sample from the runs of a log folder while they train (plugin.py)."""
