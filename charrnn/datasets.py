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

from charrnn.errors import CharRNNError
from charrnn.files import atomic_write_bytes

MIRROR_ENV = "CHARRNN_DATA_MIRROR"


@dataclasses.dataclass(frozen=True)
class Corpus:
    url: str
    sha256: str
    mirror_path: str  # relative to $CHARRNN_DATA_MIRROR


KNOWN_CORPORA = {
    "shakespeare": Corpus(
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        mirror_path="tinyshakespeare/input.txt",
    ),
}


def _fetch(corpus: Corpus) -> bytes:
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


def ensure_corpus(data_dir: str, known=KNOWN_CORPORA) -> str:
    """The path of `data_dir/input.txt`, fetched first if it is missing and the corpus is known."""
    path = os.path.join(data_dir, "input.txt")
    if os.path.exists(path):
        return path
    corpus = known.get(os.path.basename(os.path.normpath(data_dir)))
    if corpus is None:
        what = "folder" if not os.path.isdir(data_dir) else "file"
        missing = data_dir if what == "folder" else path
        raise CharRNNError(f"{missing} does not exist (known corpora fetched on first use: "
                           f"{', '.join('data/' + name for name in known)})")
    data = _fetch(corpus)
    digest = hashlib.sha256(data).hexdigest()
    if digest != corpus.sha256:
        raise CharRNNError(f"the fetched {path} has sha256 {digest}, expected {corpus.sha256}; not saved")
    os.makedirs(data_dir, exist_ok=True)
    atomic_write_bytes(path, data)
    return path
