"""What the commands share: their common flags, one-line errors instead of tracebacks, a quiet
TensorFlow loaded only once the flags are checked, and a quick exit."""

import gc
import os
import sys
from typing import Optional

from absl import app, flags, logging

from charrnn.core.config import PRECISIONS, RECURRENCE_CHOICES
from charrnn.core.errors import CharRNNError
from charrnn.training import cluster


def define_save_dir(help_text: str = "Run folder written by charrnn.train.") -> None:
    flags.DEFINE_string("save_dir", "save", help_text)


def define_checkpoint() -> None:
    flags.DEFINE_string("checkpoint", "latest", "latest, best (lowest validation loss) or a checkpoint prefix.")


def define_compute_flags() -> None:
    """--precision, --recurrence, TensorFlow's thread pools and --strategy (charrnn.train and charrnn.bench)."""
    flags.DEFINE_enum("precision", "float32", PRECISIONS, "Compute precision: bfloat16 (CPUs with AVX512-BF16 "
                      "or AMX, and recent GPUs) or float16 (GPUs, with loss scaling); weights, softmax and loss "
                      "stay float32.")
    flags.DEFINE_enum("recurrence", "auto", RECURRENCE_CHOICES, "Recurrent layers' code path: keras (cuDNN on a "
                      "GPU), cpu (charrnn.model.recurrent), auto (keras with a GPU; without one, whichever "
                      "measured faster for the cell, depth and precision). The checkpoints are the same.")
    flags.DEFINE_integer("intra_op_threads", None, "Threads per TensorFlow op (default: half the cores without "
                         "a GPU, else TensorFlow's choice).", lower_bound=1)
    flags.DEFINE_integer("inter_op_threads", None, "TensorFlow ops run at once (default: 2 without a GPU).",
                         lower_bound=1)
    flags.DEFINE_enum("strategy", "auto", cluster.STRATEGIES, "Devices to train on (tf.distribute): one_device; "
                      "mirrored (every GPU of this machine); multi_worker (the machines in the TF_CONFIG "
                      "environment variable, each running the same command); auto (mirrored with two or more GPUs).")
    flags.DEFINE_float("collective_timeout", cluster.COLLECTIVE_TIMEOUT, "With --strategy multi_worker: seconds a "
                       "worker waits for the others in a step before it stops with an error (a lost worker; one "
                       "that died or stopped sending heartbeats is noticed sooner).", lower_bound=1.0)


def check_strategy(name: str) -> None:
    """Refuses a --strategy multi_worker without a sound TF_CONFIG, before TensorFlow loads."""
    if name == "multi_worker":
        cluster.read_cluster(os.environ.get(cluster.TF_CONFIG))


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


def import_tensorflow_quietly(plotting: bool = False) -> None:
    """Imports TensorFlow without its start-up chatter on stderr.

    TF_CPP_MIN_LOG_LEVEL hides TensorFlow's C++ log lines, but a few are printed while the
    library loads, before that setting is read, so stderr is pointed at /dev/null just for
    the import. Errors still surface: they raise Python exceptions. The objects the import
    made are then frozen out of garbage collection, which would otherwise walk them all again in
    every full collection (0.1 to 0.2 s each here).

    Keras imports matplotlib.pyplot whenever matplotlib is installed (for plotting helpers it
    guards with an ImportError): 0.6 s of the import, about a second of a command's start-up
    (docs/speed.md#start-up). A process that draws nothing (`plotting` False) marks matplotlib
    absent first, unless it was imported already.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    if not plotting:
        sys.modules.setdefault("matplotlib", None)  # None: `import matplotlib` raises ImportError
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
        import keras  # noqa: F401  # isort: skip (TensorFlow first)
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)
    gc.freeze()


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


def note_bfloat16(precision: str) -> None:
    """Prints charrnn.core.machine.bfloat16_hint on a CPU-only machine whose CPU has bfloat16 units."""
    import tensorflow as tf

    from charrnn.core.machine import bfloat16_hint

    hint = None if tf.config.list_physical_devices("GPU") else bfloat16_hint(precision)
    if hint:
        print(hint, flush=True)


def _exit(code) -> None:
    """Ends the process with `code` (an int, or None for 0).

    Once TensorFlow is loaded, the interpreter's teardown of its modules and threads took 1.2 to
    1.7 s on this project's machine, longer than sampling a few hundred characters, so the process
    ends without it, after flushing what it printed. By then every file a command writes is
    closed: checkpoints and the run's JSON files are fsynced, the TensorBoard writer closed.
    """
    if "tensorflow" not in sys.modules:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe, as in `charrnn.sample | head`
            pass
    os._exit(code or 0)


def run(main) -> None:
    """absl's app.run, with a CharRNNError, an OS error or Ctrl-C reported as one line on stderr."""

    def guarded_main(argv):
        # absl logs at INFO by default, which surfaces TensorFlow's routine messages.
        if not flags.FLAGS["verbosity"].present:
            logging.set_verbosity(logging.WARNING)
        try:
            try:
                if len(argv) > 1:
                    raise CharRNNError(f"unexpected arguments {argv[1:]}; flags are written --name value")
                main(argv)
            except CharRNNError as e:
                fail(str(e))
            except OSError as e:
                fail(f"{str(e.filename) + ': ' if e.filename else ''}{e.strerror or e}")
            except KeyboardInterrupt:  # outside the training loop, which saves and exits by itself
                fail("interrupted", code=130)
        except SystemExit as e:
            _exit(e.code)
        _exit(0)

    app.run(guarded_main, flags_parser=_parse_flags)
