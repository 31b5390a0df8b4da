"""Crash-safe file writes (a reader sees the old file or the new one, never half of one) and
reading of charrnn's versioned JSON files."""

import json
import os
import tempfile

from charrnn.core.errors import CharRNNError

# Read once at import (setting it is the only way to read it); new files get 0o666 & ~umask.
_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to a temp file beside `path`, fsyncs it, then renames it over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes it owner-only; give it a normal file's mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        raise
    fsync_folder(directory)  # make the rename itself durable


def fsync_folder(directory: str) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def parse_versioned_json(text: str, source: str, kind: str, version: int) -> dict:
    """The JSON object in `text`, which must carry {"format": version}; else a one-line error."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CharRNNError(f"{source} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CharRNNError(f"{source}: expected a JSON object")
    if data.get("format") != version:
        raise CharRNNError(f"{source}: not a charrnn {kind} of format {version} (format {data.get('format')!r})")
    return data
