"""Known public corpora, fetched on first use and checked against their sha256.

A run that asks for `data/<name>` of a known corpus whose `input.txt` is missing gets it
from `$CHARRNN_DATA_MIRROR/<mirror_path>` when that variable names a folder (offline
machines, CI), else from the public URL.
"""

import dataclasses
import hashlib
import os
import urllib.error
import urllib.request

from charrnn.core.errors import CharRNNError
from charrnn.core.files import atomic_write_bytes

MIRROR_ENV = "CHARRNN_DATA_MIRROR"


@dataclasses.dataclass(frozen=True)
class KnownCorpus:
    """A public text known by the name of its data folder, e.g. data/shakespeare."""

    url: str
    sha256: str
    mirror_path: str  # relative to $CHARRNN_DATA_MIRROR


KNOWN_CORPORA = {
    "shakespeare": KnownCorpus(
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        mirror_path="tinyshakespeare/input.txt",
    ),
}


def _fetch(corpus: KnownCorpus) -> bytes:
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        source = os.path.join(mirror, corpus.mirror_path)
        try:
            with open(source, "rb") as f:
                return f.read()
        except OSError as e:
            raise CharRNNError(f"cannot read {source} from ${MIRROR_ENV}: {e.strerror}") from None
    try:
        with urllib.request.urlopen(corpus.url, timeout=60) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as e:
        raise CharRNNError(f"cannot download {corpus.url} ({getattr(e, 'reason', e)}); "
                           f"set {MIRROR_ENV} to a folder holding {corpus.mirror_path}") from None


def known_corpus(data_dir: str, known=KNOWN_CORPORA):
    """The KnownCorpus named by the last part of `data_dir` (data/shakespeare: "shakespeare"), or None."""
    return known.get(os.path.basename(os.path.normpath(data_dir)))


def fetch_input_txt(data_dir: str, corpus: KnownCorpus) -> str:
    """The path of `data_dir/input.txt`, fetched first from the mirror or the web if it is missing."""
    path = os.path.join(data_dir, "input.txt")
    if os.path.exists(path):
        return path
    data = _fetch(corpus)
    digest = hashlib.sha256(data).hexdigest()
    if digest != corpus.sha256:
        raise CharRNNError(f"the fetched {path} has sha256 {digest}, expected {corpus.sha256}; not saved")
    os.makedirs(data_dir, exist_ok=True)
    atomic_write_bytes(path, data)
    return path
