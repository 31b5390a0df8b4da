"""What the entry points share: one-line errors instead of tracebacks, and a quiet TensorFlow."""

import os
import sys
from typing import Optional

from absl import app, flags, logging

from charrnn.errors import CharRNNError


def _program() -> str:
    """'charrnn.train' when run as python -m charrnn.train, else the script's name."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None:
        return spec.name
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "charrnn"


def warn(message: str) -> None:
    """One line on stderr that does not stop the program."""
    print(message, file=sys.stderr, flush=True)


def fail(message: str, code: int = 1):
    print(f"{_program()}: error: {message}", file=sys.stderr)
    sys.exit(code)


def _parse_flags(argv):
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        fail(str(e).splitlines()[0], code=2)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow without its start-up chatter on stderr.

    TF_CPP_MIN_LOG_LEVEL hides TensorFlow's C++ log lines, but a few are printed while the
    library loads, before that setting is read, so stderr is pointed at /dev/null just for
    the import. Errors still surface: they raise Python exceptions.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
        import keras  # noqa: F401
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)


def configure_threads(intra_op: Optional[int], inter_op: Optional[int]) -> tuple:
    """Sets TensorFlow's thread pools before it runs anything; returns (intra_op, inter_op) in use.

    None picks for speed on a machine without a GPU: two inter-op threads, so two stacked layers
    run at once, each using half the cores for its matmuls. (On 2 cores this measured faster
    than TensorFlow's default of both pools at 2.) With a GPU, TensorFlow's defaults stay.
    """
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        cores = os.cpu_count() or 1
        intra_op = intra_op if intra_op is not None else max(1, cores // 2)
        inter_op = inter_op if inter_op is not None else 2
    if intra_op is not None:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
    if inter_op is not None:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    return (tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads())


def run(main) -> None:
    """absl's app.run, with a CharRNNError, an OS error or Ctrl-C reported as one line on stderr."""

    def guarded_main(argv):
        # absl logs at INFO by default, which surfaces TensorFlow's routine messages.
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        try:
            if len(argv) > 1:
                raise CharRNNError(f"unexpected arguments {argv[1:]}; flags are written --name value")
            return main(argv)
        except CharRNNError as e:
            fail(str(e))
        except OSError as e:
            fail(f"{str(e.filename) + ': ' if e.filename else ''}{e.strerror or e}")
        except KeyboardInterrupt:  # outside the training loop, which saves and exits by itself
            fail("interrupted", code=130)

    app.run(guarded_main, flags_parser=_parse_flags)
