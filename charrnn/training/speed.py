"""The speed of the real training step (charrnn.bench): seconds per batch, characters per second,
GFLOP/s and peak memory of one model on random ids."""

import os
import statistics
import time

import numpy as np

from charrnn.core.config import ModelConfig, RunConfig, TrainConfig
from charrnn.data.batches import Batches
from charrnn.data.vocab import Vocab
from charrnn.training.cluster import COLLECTIVE_TIMEOUT
from charrnn.training.trainer import Trainer


def training_flops_per_batch(model: ModelConfig, batch_size: int, seq_length: int) -> float:
    """Multiply-adds x 2 of one training step's matmuls: forward, plus twice that backward."""
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[model.model]
    per_char = sum(2 * (model.rnn_size + model.rnn_size) * gates * model.rnn_size for _ in range(model.num_layers))
    per_char += 2 * model.rnn_size * model.vocab_size
    return 3.0 * batch_size * seq_length * per_char


def _peak_rss_mib() -> float:
    """Peak resident memory since the last reset (Linux), else since the process started."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size
    except OSError:
        pass


def time_training_step(model: ModelConfig, train: TrainConfig, steps: int, warmup: int, work_dir: str,
                       recurrence: str = "auto", strategy=None, collective_timeout: float = COLLECTIVE_TIMEOUT) -> dict:
    """Builds the trainer of `model` on random ids and times `steps` training steps after `warmup`
    (under `strategy`, a tf.distribute strategy; default: one device; a multi-worker step that
    waits longer than `collective_timeout` seconds for the other workers fails).

    Returns the median seconds per batch, characters per second, GFLOP/s, the peak resident memory
    (MiB) from the trainer's construction on, whether charrnn.model.recurrent ran, the last loss.
    """
    ids = np.random.default_rng(0).integers(0, model.vocab_size, (warmup + steps) * train.batch_size *
                                            train.seq_length + 1).astype(np.uint8)
    batches = Batches(ids, train.batch_size, train.seq_length)
    vocab = Vocab(chr(32 + i) for i in range(model.vocab_size))
    name = f"{model.model}_{model.num_layers}x{model.rnn_size}" + "_layer_norm" * model.layer_norm + \
        "_residual" * model.residual
    _reset_peak_rss()
    trainer = Trainer(RunConfig(model, train, run_name=name), vocab, batches, ids[:100],
                      os.path.join(work_dir, name), work_dir, recurrence=recurrence, strategy=strategy,
                      collective_timeout=collective_timeout)
    times, no_decisions = [], trainer.decisions.ask(False, [0, 0])
    for i in range(warmup + steps):
        inputs, targets = batches[i]
        start = time.perf_counter()
        with trainer.deadline:
            loss = float(trainer.train_step(inputs, targets, no_decisions)[0])  # waits for the step
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times[warmup:])
    return {"model": model.model, "num_layers": model.num_layers, "rnn_size": model.rnn_size,
            "layer_norm": model.layer_norm, "residual": model.residual,
            "seconds_per_batch": seconds, "chars_per_second": train.batch_size * train.seq_length / seconds,
            "gflop_per_second": training_flops_per_batch(model, train.batch_size, train.seq_length) / seconds / 1e9,
            "peak_rss_mib": _peak_rss_mib(), "cpu_recurrence": trainer.model.cpu_recurrence, "final_loss": loss}
