"""Text to batches: which files, decoded and encoded once into a content-keyed cache, then split and batched."""
