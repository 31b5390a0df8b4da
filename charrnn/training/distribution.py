"""Which devices and machines a run trains on: a tf.distribute strategy, chosen by name.

- one_device: TensorFlow's default strategy, one CPU or GPU (what `auto` picks with fewer than two GPUs);
- mirrored: MirroredStrategy over every GPU of this machine (`auto` with two or more);
- multi_worker: MultiWorkerMirroredStrategy over the machines listed in the standard TF_CONFIG
  environment variable (see cluster.py), each running the same command.

The trainer keeps the global batch: each replica owns a contiguous block of its rows (text
streams) and carries their RNN state; the gradients are all-reduced once per step. Only the
chief writes files and prints.
"""

import re

import tensorflow as tf

from charrnn.core.errors import CharRNNError


def check_batch_divides(batch_size: int, replicas: int, groups: int) -> None:
    """Every replica owns a block of whole rows, cut into --grad_accum_steps groups."""
    if batch_size % (replicas * groups):
        groups_text = f" x {groups} --grad_accum_steps groups" if groups > 1 else ""
        raise CharRNNError(f"--batch_size {batch_size} does not divide among {replicas} replicas{groups_text}; "
                           f"choose a multiple of {replicas * groups}")


def make_strategy(name: str, collective_timeout: float):
    """The tf.distribute strategy `name` stands for. Call it before TensorFlow runs any op:
    MultiWorkerMirroredStrategy sets up the cluster's connections when it is made.

    mirrored spreads over the GPUs, or without any over the logical CPU devices (tests configure
    two). A collective op waiting longer than `collective_timeout` seconds for a lost worker fails.
    """
    if name == "auto":  # physical devices: listing logical ones would start TensorFlow's runtime
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "one_device"
    if name == "one_device":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


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


def mean_over_replicas(context, tensors: list) -> list:
    """Each tensor averaged over the replicas, in one all-reduce."""
    if context.num_replicas_in_sync == 1:
        return tensors
    return context.all_reduce(tf.distribute.ReduceOp.MEAN, tensors)


def first_replica(strategy, values) -> list:
    """This process's first replica's copy of each of `values` (the same on every replica)."""
    return [strategy.experimental_local_results(value)[0] for value in values]


class ChiefDecisions:
    """decide(stop, chief_values) -> (stop, chief_values), the same in every process: whether any
    worker was asked to stop, and the chief's `chief_values` (non-negative numbers).

    What ends the run or shapes its schedule (a stop request, the planned length under a time
    budget) is measured on each machine's clock, but all workers must take the same steps: in a
    multi-worker run they stop when any of them is asked to, and take the chief's numbers.
    Elsewhere the values come back as they are.
    """

    def __init__(self, strategy):
        self.strategy, self.chief = strategy, is_chief(strategy)
        self.multi_worker = is_multi_worker(strategy)
        self._gather_largest = tf.function(self._gather_largest_fn, input_signature=[tf.TensorSpec([None], tf.float64)],
                                           autograph=False)

    def __call__(self, stop: bool, chief_values: list) -> tuple:
        if not self.multi_worker:
            return stop, chief_values
        ours = [float(stop)] + [float(v) if self.chief else 0.0 for v in chief_values]
        stop, *chief_values = self._gather_largest(ours).numpy().tolist()
        return bool(stop), chief_values

    def _gather_largest_fn(self, values):
        def largest(values):  # all-gather [replicas, n]: the chief's rows, and zeros
            return tf.reduce_max(tf.distribute.get_replica_context().all_gather(values[tf.newaxis], axis=0), axis=0)

        return first_replica(self.strategy, [self.strategy.run(largest, args=(values,))])[0]


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
