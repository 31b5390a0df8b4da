"""Which devices and machines a run trains on: a tf.distribute strategy, chosen by name.

- one_device: TensorFlow's default strategy, one CPU or GPU (what `auto` picks with fewer than two GPUs);
- mirrored: MirroredStrategy over every GPU of this machine (`auto` with two or more);
- multi_worker: MultiWorkerMirroredStrategy over the machines listed in the standard TF_CONFIG
  environment variable (see cluster.py), each running the same command.

The trainer keeps the global batch: each replica owns a contiguous block of its rows (text
streams) and carries their RNN state; the loss, the gradients, the new states and the workers'
decisions (to stop, the chief's schedule) travel in one all-reduce per step, the only collective
op a step runs. Only the chief writes files and prints.

A lost worker of a multi-worker run is noticed by TensorFlow's coordination service (a killed
process at once, a hung one when its heartbeats stop, after about 10 s) and by one watchdog
thread per process (StepDeadline) for a worker that is alive but does not join the step. The
collective ops themselves run without TensorFlow's per-op timeout: that keeps a sleeping thread
per op for the whole timeout (it is scheduled as a delayed closure on a thread of its own), some
20 threads per step, which exhausted the process's threads after a few hundred steps.
"""

import re
import threading
import time
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from charrnn.core.errors import CharRNNError


def check_batch_divides(batch_size: int, replicas: int, groups: int) -> None:
    """Every replica owns a block of whole rows, cut into --grad_accum_steps groups."""
    if batch_size % (replicas * groups):
        groups_text = f" x {groups} --grad_accum_steps groups" if groups > 1 else ""
        raise CharRNNError(f"--batch_size {batch_size} does not divide among {replicas} replicas{groups_text}; "
                           f"choose a multiple of {replicas * groups}")


def make_strategy(name: str):
    """The tf.distribute strategy `name` stands for. Call it before TensorFlow runs any op:
    MultiWorkerMirroredStrategy sets up the cluster's connections when it is made.

    mirrored spreads over the GPUs, or without any over the logical CPU devices (tests configure
    two). multi_worker's collective ops have no per-op timeout (see the module's docstring): the
    trainer's StepDeadline bounds the wait.
    """
    if name == "auto":  # physical devices: listing logical ones would start TensorFlow's runtime
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "one_device"
    if name == "one_device":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    return tf.distribute.MultiWorkerMirroredStrategy()


def is_chief(strategy) -> bool:
    """Whether this process writes the run's files (the only one, in a multi-worker run)."""
    return strategy.extended.should_checkpoint


def is_multi_worker(strategy) -> bool:
    """Whether other processes hold some of the replicas."""
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and len(strategy.extended.worker_devices) < strategy.num_replicas_in_sync)


def replica_block(context, tensor):
    """This replica's contiguous block of the rows of `tensor` [batch, ...]: replica r of n owns
    rows r * batch / n up to (r + 1) * batch / n."""
    replicas = context.num_replicas_in_sync
    if replicas == 1:
        return tensor
    rows = tensor.shape[0] // replicas
    start = context.replica_id_in_sync_group * rows
    return tf.ensure_shape(tensor[start: start + rows], [rows, *tensor.shape[1:]])


def combine_replicas(context, loss, gradients: list, state_blocks: list, batch_size: int, decisions) -> tuple:
    """What every replica needs after its part of a step, in one all-reduce: the loss and the
    gradients averaged over the replicas, the new states of all rows, each [batch_size, units],
    and the workers' `decisions` [ChiefDecisions.SIZE] combined (see ChiefDecisions).

    Replica r contributes its block of rows (`state_blocks`, each [rows, units]) at its place and
    zeros elsewhere, so the sum is every block in row order, exactly (x + 0 = x). TensorFlow packs
    the list into one collective op; gathering the states instead took two per state.
    """
    replicas = context.num_replicas_in_sync
    if replicas == 1:
        return loss, gradients, state_blocks, decisions
    rows = state_blocks[0].shape[0]
    replica = context.replica_id_in_sync_group
    start = replica * rows
    placed = [tf.pad(block, [[start, batch_size - start - rows], [0, 0]]) for block in state_blocks]
    # Stop votes from every replica; the numbers from replica 0 alone, which is the chief's.
    first = tf.cast(tf.equal(replica, 0), decisions.dtype)
    decisions = tf.concat([decisions[:1], decisions[1:] * first], axis=0)
    loss, decisions, *summed = context.all_reduce(tf.distribute.ReduceOp.SUM, [loss, decisions, *gradients, *placed])
    gradients, states = summed[:len(gradients)], summed[len(gradients):]
    return loss / replicas, [g / replicas for g in gradients], states, decisions


def first_replica(strategy, values) -> list:
    """This process's first replica's copy of each of `values` (the same on every replica)."""
    return [strategy.experimental_local_results(value)[0] for value in values]


class ChiefDecisions:
    """What all workers of a multi-worker run must decide alike, carried by the training step.

    A stop request and the end of a time budget are measured on each machine's clock, but all
    workers must take the same steps: they stop when any of them is asked to, and take the chief's
    last step and planned length. Each process encodes its stop request and its own numbers
    (`ask`), the training step's all-reduce combines them (combine_replicas: the stop votes of
    every replica summed, the numbers of the chief's alone) and `heard` decodes the same answer in
    every process. A decision made after step n travels in step n + 1 and is taken after it.

    The numbers are whole and sent as two float32 parts that stay exact (n // 4096 and n % 4096):
    the all-reduce is float32, which holds whole numbers exactly only below 2^24. A number at or
    above 2^36 (two years of millisecond steps) is sent as 2^36 - 1, which no run reaches either.
    """

    NUMBERS = 2  # the run's last step, its planned length
    SIZE = 1 + 2 * NUMBERS
    _PART = 4096
    LARGEST = _PART * 2**24 - 1

    def ask(self, stop: bool, numbers: list) -> np.ndarray:
        """[SIZE] float32: this process's vote and numbers."""
        parts = [part for n in numbers for part in divmod(min(int(n), self.LARGEST), self._PART)]
        return np.array([float(stop), *parts], np.float32)

    def heard(self, combined: np.ndarray) -> tuple:
        """(whether any worker asked to stop, the chief's numbers) from the combined [SIZE] vector."""
        votes, *parts = combined.tolist()
        return votes > 0, [int(high) * self._PART + int(low) for high, low in zip(parts[::2], parts[1::2])]


class StepDeadline:
    """`with deadline:` around a call that waits in collective ops: when it lasts longer than
    `seconds`, `abort(message)` makes the waiting ops fail (by default TensorFlow's
    abort_collective_ops, which ends every collective op of the process with that message).

    One watchdog thread for the whole run, started on first use; `seconds=None` watches nothing.
    """

    def __init__(self, seconds: Optional[float], abort: Optional[Callable[[str], None]] = None):
        self.seconds, self._abort = seconds, abort or _abort_collective_ops
        self._due: Optional[float] = None  # time.monotonic() by which the watched call must end
        self._changed = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def __enter__(self):
        if self.seconds is not None:
            with self._changed:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._watch, name="charrnn-step-deadline", daemon=True)
                    self._thread.start()
                self._due = time.monotonic() + self.seconds
                self._changed.notify()
        return self

    def __exit__(self, *exc_info):
        if self.seconds is not None:
            with self._changed:
                self._due = None
                self._changed.notify()

    def _watch(self):
        with self._changed:
            while True:
                while self._due is None:
                    self._changed.wait()
                left = self._due - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                self._due = None
                self._abort(f"timed out: the other workers did not join the step within --collective_timeout "
                            f"{self.seconds:g} s")


def _abort_collective_ops(message: str) -> None:
    from tensorflow.python.eager import context  # TensorFlow's own peer check aborts this way

    context.context().abort_collective_ops(tf.errors.DEADLINE_EXCEEDED, message)


def lost_worker_error(error: Exception, save_dir: str) -> CharRNNError:
    """The one line for a collective op of a multi-worker run that failed: another worker died,
    was unreachable or did not answer within --collective_timeout."""
    text = str(error)
    task = re.search(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)", text)
    who = f"{task[1]} {task[2]}" if task else "another worker"
    cause = next((line.strip() for line in text.splitlines() if "aborted by" in line or "timed out" in line.lower()),
                 type(error).__name__)
    return CharRNNError(f"lost {who} of the multi-worker run ({cause}); run every worker's command again, "
                        f"with --init_from {save_dir}, to continue from the chief's last checkpoint")
