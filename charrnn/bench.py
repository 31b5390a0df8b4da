"""Speed: python -m charrnn.bench [--quick] [--precision bfloat16] | --sample [--save_dir save]

Training: times the real training step (charrnn.training.speed) on random data: char-rnn-tensorflow's
default model first, compared with the figures its users reported, then a table in the manner
of torch-rnn's benchmark. Per row: the median time per batch after warm-up, characters per
second, the model's GFLOP/s and the peak resident memory while the row ran. The table goes to
stdout, a JSON report and a TensorBoard text summary (`tensorboard --logdir logs`).

Sampling (--sample): characters per second of charrnn's generation loop at each batch size of
--num_samples, after its first call (tracing, and compilation for long samples in small
batches), for the run in --save_dir or, without one, the default model with random weights (the
speed does not depend on the weights).
"""

import datetime
import json
import os
import statistics
import sys
import tempfile
import time

from absl import flags

from charrnn import cli
from charrnn.core.config import CELL_TYPES, ModelConfig, RunConfig, TrainConfig
from charrnn.core.machine import cpu_description
from charrnn.core.errors import CharRNNError

# char-rnn-tensorflow's default model (2x128 LSTM, batch 50x50, 65 characters), s/batch as
# measured by its users and collected in this project's seed.
REFERENCE_SECONDS_PER_BATCH = {"GTX 1070": 0.039, "GTX 745": 0.063, "i7-6700 CPU": 0.094, "MacBook Pro": 0.110}
DEFAULT_ROW = ("lstm", 2, 128, ())
ROW_OPTIONS = ("layer_norm", "residual")  # ModelConfig switches a row may turn on
VOCAB_SIZE = 65

flags.DEFINE_bool("quick", False, "A few rows instead of the full table.")
flags.DEFINE_list("rows", None, "Rows to time as cell:layers:units[:layer_norm][:residual], e.g. "
                  "lstm:2:128,gru:1:512:layer_norm (default: the default model, then {lstm, gru} x {1, 2, 3} "
                  "layers x {128, 256, 512} units).")
cli.define_compute_flags()  # --precision, --recurrence and the thread pools, as charrnn.train's
flags.DEFINE_integer("batch_size", 50, "Batch size.", lower_bound=1)
flags.DEFINE_integer("seq_length", 50, "Sequence length.", lower_bound=1)
flags.DEFINE_integer("steps", 20, "Timed steps per row.", lower_bound=1)
flags.DEFINE_integer("warmup", 3, "Untimed steps first (tracing, allocation).", lower_bound=1)
flags.DEFINE_bool("sample", False, "Time text generation instead of training.")
flags.DEFINE_string("save_dir", None, "With --sample: a run folder to sample from (default: the default model, "
                    "random weights).")
flags.DEFINE_list("num_samples", ["1", "64"], "With --sample: batch sizes to time.")
flags.DEFINE_integer("length", 2000, "With --sample: characters per sample (from 8192, fewer than 32 samples "
                     "run XLA-compiled).", lower_bound=1)
flags.DEFINE_string("out", os.path.join("logs", "bench", "bench.json"), "JSON report.")
flags.DEFINE_string("summary_dir", os.path.join("logs", "bench"), "TensorBoard folder for the table.")
flags.adopt_module_key_flags(cli)  # the shared flags cli defined show in --help
FLAGS = flags.FLAGS


def parse_row(text: str) -> tuple:
    """'cell:layers:units[:option...]' -> (cell, layers, units, options), options a tuple of ROW_OPTIONS."""
    try:
        cell, layers, units, *options = text.split(":")
        row = (cell, int(layers), int(units), tuple(options))
    except ValueError:
        raise CharRNNError(f"--rows entry {text!r} is not cell:layers:units[:layer_norm][:residual], "
                           "e.g. lstm:2:128") from None
    if cell not in CELL_TYPES or row[1] < 1 or row[2] < 1:
        raise CharRNNError(f"--rows entry {text!r}: cell must be one of {', '.join(CELL_TYPES)}, sizes positive")
    unknown = sorted(set(options) - set(ROW_OPTIONS))
    if unknown:
        raise CharRNNError(f"--rows entry {text!r}: unknown option {unknown[0]!r} (options: {', '.join(ROW_OPTIONS)})")
    return row


def table_rows() -> list:
    if FLAGS.rows:
        return [parse_row(text) for text in FLAGS.rows]
    if FLAGS.quick:
        return [DEFAULT_ROW, ("gru", 2, 128, ()), ("lstm", 2, 512, ())]
    grid = [(cell, layers, units, ()) for cell in ("lstm", "gru") for layers in (1, 2, 3) for units in (128, 256, 512)]
    return [DEFAULT_ROW] + [row for row in grid if row != DEFAULT_ROW]


def device_name() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return cpu_description()


def time_row(row: tuple, work_dir: str, strategy) -> dict:
    from charrnn.training.speed import time_training_step

    cell, layers, units, options = row
    model = ModelConfig(vocab_size=VOCAB_SIZE, model=cell, rnn_size=units, num_layers=layers,
                        **{option: True for option in options})
    return time_training_step(model,
                              TrainConfig(batch_size=FLAGS.batch_size, seq_length=FLAGS.seq_length,
                                          precision=FLAGS.precision),
                              FLAGS.steps, FLAGS.warmup, work_dir, recurrence=FLAGS.recurrence, strategy=strategy,
                              collective_timeout=FLAGS.collective_timeout)


def format_row(result: dict) -> str:
    path = "charrnn" if result["cpu_recurrence"] else "keras"
    options = "".join(f" +{option}" for option in ROW_OPTIONS if result[option])
    name = f"{result['model']:>4} {result['num_layers']} x {result['rnn_size']:<4}{options}"
    return (f"{name:<36} {path:>7} "
            f"{result['seconds_per_batch'] * 1000:9.1f} ms {result['chars_per_second']:10,.0f} chars/s "
            f"{result['gflop_per_second']:7.1f} GFLOP/s {result['peak_rss_mib']:8.0f} MiB")


def sampling_speed() -> dict:
    """{batch size: chars/s} of the median of 5 timed generations after one that compiles."""
    from charrnn.api import CharModel, load
    from charrnn.data.vocab import Vocab
    from charrnn.model.network import CharRNN

    if FLAGS.save_dir:
        model = load(FLAGS.save_dir, on_skip=cli.warn, compile_in_background=False)  # each loop timed alone
    else:
        config = RunConfig(ModelConfig(vocab_size=VOCAB_SIZE), TrainConfig(), run_name="bench")
        network = CharRNN(config.model)
        network.build_variables()
        model = CharModel(network, Vocab(chr(32 + i) for i in range(VOCAB_SIZE)), config, compile_in_background=False)
    speeds = {}
    for batch in sorted({int(n) for n in FLAGS.num_samples}):
        times = []
        for seed in range(6):
            start = time.perf_counter()
            model.generate(length=FLAGS.length, seed=seed, num_samples=batch)
            times.append(time.perf_counter() - start)
        speeds[batch] = batch * FLAGS.length / statistics.median(times[1:])
        loop = "XLA-compiled" if model.sampler.compiles(FLAGS.length, batch) else "plain graph"
        print(f"{model.config.model.num_layers}x{model.config.model.rnn_size} {model.config.model.model}, "
              f"{batch} sample{'s' if batch > 1 else ''} of {FLAGS.length} ({loop}): {speeds[batch]:,.0f} chars/s "
              f"(first call, with tracing and any compilation: {times[0]:.2f} s)", flush=True)
    return speeds


def training_table(rows: list, strategy) -> tuple:
    """({"rows": results, ...}, the printed lines): each row timed, printed as it finishes."""
    results, lines = [], []
    with tempfile.TemporaryDirectory(prefix="charrnn_bench_") as work_dir:
        for row in rows:
            results.append(time_row(row, work_dir, strategy))
            lines.append(format_row(results[-1]))
            print(lines[-1], flush=True)
            if row == DEFAULT_ROW and (FLAGS.batch_size, FLAGS.seq_length) == (50, 50):
                seconds = results[-1]["seconds_per_batch"]
                comparison = ", ".join(f"{name} {reference:.3f} s ({reference / seconds:.2f}x)"
                                       for name, reference in REFERENCE_SECONDS_PER_BATCH.items())
                lines.append(f"default model vs char-rnn-tensorflow on: {comparison}")
                print(lines[-1], flush=True)
    return {"rows": results, "reference_seconds_per_batch": REFERENCE_SECONDS_PER_BATCH}, lines


def main(argv):
    del argv  # cli.run refuses positional arguments
    if FLAGS.sample:
        for text in FLAGS.num_samples:
            if not text.isdigit() or int(text) < 1:
                raise CharRNNError(f"--num_samples takes positive integers, got {text!r}")
    rows = table_rows()
    cli.check_strategy(FLAGS.strategy)
    cli.import_tensorflow_quietly()
    threads = cli.configure_threads(FLAGS.intra_op_threads, FLAGS.inter_op_threads)
    from charrnn.training import distribution

    strategy = distribution.make_strategy(FLAGS.strategy)
    if not distribution.is_chief(strategy):  # the other workers of a multi-worker run only take part
        sys.stdout = open(os.devnull, "w")
        FLAGS.out = FLAGS.summary_dir = None
    import tensorflow as tf

    from charrnn.training.summaries import Summaries

    header = {"device": device_name(), "tensorflow": tf.__version__, "precision": FLAGS.precision,
              "strategy": f"{FLAGS.strategy} ({strategy.num_replicas_in_sync} replicas)",
              "batch_size": FLAGS.batch_size, "seq_length": FLAGS.seq_length, "steps": FLAGS.steps,
              "threads": {"intra_op": threads[0], "inter_op": threads[1]},
              "recurrence": FLAGS.recurrence + (" (each row's path: keras or charrnn)" if FLAGS.recurrence == "auto"
                                                else ""),
              "date": datetime.datetime.now().isoformat(timespec="seconds")}
    print(f"device {header['device']}; TensorFlow {header['tensorflow']}; precision {FLAGS.precision}; "
          f"recurrent layers {header['recurrence']}; strategy {header['strategy']}; "
          f"threads intra-op {threads[0]}, inter-op {threads[1]}; batch {FLAGS.batch_size} x {FLAGS.seq_length}; "
          f"median of {FLAGS.steps} steps after {FLAGS.warmup}", flush=True)
    if FLAGS.sample:
        results, lines = {"sampling_chars_per_second": sampling_speed()}, None
    else:
        cli.note_bfloat16(FLAGS.precision)
        results, lines = training_table(rows, strategy)
    if FLAGS.out is None:
        return
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump({**header, **results}, f, indent=2)
    if lines:
        summaries = Summaries(os.path.join(FLAGS.summary_dir, f"{FLAGS.precision}_{header['date'].replace(':', '-')}"))
        summaries.text(0, "bench", "\n".join([json.dumps(header)] + lines))
        summaries.close()
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    cli.run(main)
