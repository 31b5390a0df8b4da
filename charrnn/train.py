"""Train a character-level language model: python -m charrnn.train --data_dir data/shakespeare"""

import dataclasses
import datetime
import os
import secrets
import signal
import sys

from absl import flags

from charrnn import cli
from charrnn.config import (CELL_TYPES, PRECISIONS, RECURRENCE_CHOICES, DataConfig, ModelConfig, RunConfig,
                            TrainConfig, resume_config)
from charrnn.corpus import find_source, ids_for_vocab, load_corpus
from charrnn.data import make_splits
from charrnn.errors import CharRNNError
from charrnn.run_folder import read_run_files

_MODEL = ModelConfig(vocab_size=1)
_TRAIN = TrainConfig()

flags.DEFINE_string("data_dir", "data/shakespeare", "Folder holding input.txt, or else *.txt files (joined in "
                    "sorted name order). data/shakespeare is fetched on first use.")
flags.DEFINE_string("input_file", None, "Train on this one text file instead of --data_dir.")
flags.DEFINE_string("encoding", "utf-8", "Encoding of the text files, e.g. utf-16, latin-1, cp1251, shift_jis.")
flags.DEFINE_string("save_dir", "save", "Folder for config.json, vocab.json and checkpoints.")
# absl.logging owns --log_dir (for its own log files, which charrnn never writes), so the flag
# is reused for TensorBoard rather than defined twice.
flags.FLAGS.set_default("log_dir", "logs")
flags.FLAGS["log_dir"].help = "TensorBoard folder; each run writes to a subfolder named by --run_name."
flags.DEFINE_string("run_name", None, "Name of this run's TensorBoard subfolder (default: the start time). "
                    "A continued run keeps its name.")
flags.DEFINE_string("init_from", None, "Continue the run saved in this folder: same step, learning-rate "
                    "schedule and place in the epoch.")
flags.DEFINE_enum("model", _MODEL.model, CELL_TYPES, "Recurrent cell type.")
flags.DEFINE_integer("rnn_size", _MODEL.rnn_size, "Units per recurrent layer (and embedding width).")
flags.DEFINE_integer("num_layers", _MODEL.num_layers, "Number of recurrent layers.")
flags.DEFINE_float("dropout", _MODEL.dropout, "Dropout rate after each recurrent layer, in [0, 1).")
flags.DEFINE_integer("batch_size", _TRAIN.batch_size, "Parallel streams of text per batch.")
flags.DEFINE_integer("seq_length", _TRAIN.seq_length, "Characters per stream per batch (BPTT length).")
flags.DEFINE_float("val_frac", _TRAIN.val_frac, "Fraction of the text held out for validation (before the "
                   "test split, at the end).")
flags.DEFINE_float("test_frac", _TRAIN.test_frac, "Fraction of the text (its very end) held out for "
                   "python -m charrnn.evaluate --split test.")
flags.DEFINE_float("learning_rate", _TRAIN.learning_rate, "Adam learning rate.")
flags.DEFINE_float("decay_rate", _TRAIN.decay_rate, "Learning-rate decay factor applied once per epoch.")
flags.DEFINE_float("grad_clip", _TRAIN.grad_clip, "Clip gradients to this global norm.")
flags.DEFINE_integer("num_epochs", _TRAIN.num_epochs, "Passes over the training text.")
flags.DEFINE_integer("max_steps", None, "Stop after this many steps in all (counting earlier runs).")
flags.DEFINE_integer("seed", None, "Random seed (default: a random one, recorded in config.json).")
flags.DEFINE_integer("print_every", _TRAIN.print_every, "Print a train_loss line every this many steps.")
flags.DEFINE_integer("eval_every", _TRAIN.eval_every, "Validate every this many steps (and at each epoch's end).")
flags.DEFINE_integer("save_every", _TRAIN.save_every, "Checkpoint every this many steps (and at each "
                     "epoch's end, at the end and on Ctrl-C).")
flags.DEFINE_integer("keep_checkpoints", _TRAIN.keep_checkpoints, "How many recent checkpoints to keep "
                     "(the best one is kept apart).")
flags.DEFINE_enum("precision", _TRAIN.precision, PRECISIONS, "Compute precision: bfloat16 (CPUs with AVX512-BF16 "
                  "or AMX, and recent GPUs) or float16 (GPUs, with loss scaling); weights, softmax and loss "
                  "stay float32.")
flags.DEFINE_enum("recurrence", "auto", RECURRENCE_CHOICES, "Recurrent layers' code path: keras (cuDNN on a GPU), "
                  "cpu (charrnn.recurrent), auto (whichever measured faster here; keras with a GPU). The "
                  "checkpoints are the same.")
flags.DEFINE_integer("intra_op_threads", None, "Threads per TensorFlow op (default: half the cores without a "
                     "GPU, else TensorFlow's choice).", lower_bound=1)
flags.DEFINE_integer("inter_op_threads", None, "TensorFlow ops run at once (default: 2 without a GPU).",
                     lower_bound=1)
flags.DEFINE_bool("deterministic", False, "TensorFlow op determinism: with --seed, a run interrupted and "
                  "continued gives the same losses and weights as one run straight through (CPU).")
FLAGS = flags.FLAGS


def _flag_values(config_class, present_only: bool) -> dict:
    names = [f.name for f in dataclasses.fields(config_class) if f.name in FLAGS]
    return {name: FLAGS[name].value for name in names if FLAGS[name].present or not present_only}


def _new_run() -> RunConfig:
    """The run the flags describe; validated now, its vocab_size filled in once the text is read."""
    train_values = _flag_values(TrainConfig, present_only=False)
    if train_values["seed"] is None:
        train_values["seed"] = secrets.randbelow(2**31)
    run_name = FLAGS.run_name or datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    return RunConfig(model=ModelConfig(vocab_size=1, **_flag_values(ModelConfig, present_only=False)),
                     train=TrainConfig(**train_values), run_name=run_name)


def _data_config(saved: DataConfig) -> DataConfig:
    """The text the flags name; a continued run given no data flags keeps the text it was trained on."""
    given = [name for name in ("data_dir", "input_file") if FLAGS[name].present]
    if len(given) == 2:
        raise CharRNNError("give --data_dir or --input_file, not both")
    if not given and (saved.data_dir or saved.input_file):
        encoding = FLAGS.encoding if FLAGS["encoding"].present else saved.encoding
        return DataConfig(data_dir=saved.data_dir, input_file=saved.input_file, encoding=encoding)
    if FLAGS.input_file:
        return DataConfig(input_file=FLAGS.input_file, encoding=FLAGS.encoding)
    return DataConfig(data_dir=FLAGS.data_dir, encoding=FLAGS.encoding)


def _stop_on_signals(trainer, received: list) -> None:
    """SIGINT and SIGTERM ask the trainer to stop after the current step (it saves; exit 128 + signal).

    The first signal only sets a flag: an exception raised inside a TensorFlow call can crash the
    process. A second one stops at once.
    """
    def stop(signum, frame):
        received.append(signum)
        if len(received) > 1:
            raise KeyboardInterrupt
        trainer.stop_requested = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)


def _check_folder_flag(name: str) -> None:
    path = FLAGS[name].value
    if os.path.exists(path) and not os.path.isdir(path):
        raise CharRNNError(f"--{name} {path} is a file; it takes a folder")


def main(argv):
    del argv  # cli.run refuses positional arguments
    for name in ("data_dir", "save_dir", "log_dir"):
        _check_folder_flag(name)
    if FLAGS.init_from:
        saved, vocab = read_run_files(FLAGS.init_from)
        run = resume_config(saved, _flag_values(ModelConfig, True), _flag_values(TrainConfig, True))
        if FLAGS.run_name:
            run = dataclasses.replace(run, run_name=FLAGS.run_name)
    else:
        run, vocab = _new_run(), None

    data = _data_config(run.data)
    corpus = load_corpus(find_source(data.data_dir, data.input_file, data.encoding))
    if corpus.cache_problem:
        cli.warn(f"warning: {corpus.cache_problem}")
    if vocab is None:
        vocab, ids = corpus.vocab, corpus.ids
        run = dataclasses.replace(run, model=dataclasses.replace(run.model, vocab_size=len(vocab)))
    else:  # characters the saved vocabulary lacks stop here, named, in one line
        ids = ids_for_vocab(corpus, vocab)
    run = dataclasses.replace(run, data=dataclasses.replace(data, sha256=corpus.sha256))
    train_batches, splits = make_splits(ids, run.train.batch_size, run.train.seq_length, run.train.val_frac,
                                        run.train.test_frac)

    cli.import_tensorflow_quietly()
    cli.configure_threads(FLAGS.intra_op_threads, FLAGS.inter_op_threads)
    if FLAGS.deterministic:
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
    from charrnn import checkpoints
    from charrnn.trainer import Trainer

    continuing_here = FLAGS.init_from and os.path.realpath(FLAGS.init_from) == os.path.realpath(FLAGS.save_dir)
    if checkpoints.has_checkpoint(FLAGS.save_dir) and not continuing_here:
        raise CharRNNError(f"{FLAGS.save_dir} already holds a run; continue it with --init_from "
                           f"{FLAGS.save_dir}, or choose another --save_dir")
    trainer = Trainer(run, vocab, train_batches, splits.val, FLAGS.save_dir, FLAGS.log_dir,
                      recurrence=FLAGS.recurrence)
    if FLAGS.init_from:
        trainer.restore(checkpoints.find_checkpoint(FLAGS.init_from, "latest", on_skip=cli.warn))
    shortage = checkpoints.space_shortage(FLAGS.save_dir, trainer.checkpoint_bytes(), run.train.keep_checkpoints + 1)
    if shortage:
        cli.warn(f"warning: {shortage}")
    print(f"{run.run_name}: {len(ids):,} characters of text ({'cached' if corpus.from_cache else 'encoded'}), "
          f"{len(vocab)} distinct, {len(train_batches)} batches per epoch, "
          f"training steps {trainer.step} to {trainer.total_steps}; TensorBoard logs in "
          f"{os.path.join(FLAGS.log_dir, run.run_name)}", flush=True)
    signals = []
    _stop_on_signals(trainer, signals)
    result = trainer.train()

    if result.median_time_per_batch is not None:
        print(f"median time/batch = {result.median_time_per_batch:.4f} s, best val_loss = {result.best_val_loss:.4f}")
    if result.interrupted:
        signum = signals[-1] if signals else signal.SIGINT
        print(f"interrupted by {signal.Signals(signum).name} at step {result.step}; saved {result.checkpoint}\n"
              f"continue with: python -m charrnn.train --save_dir {FLAGS.save_dir} --init_from {FLAGS.save_dir}")
        sys.exit(128 + signum)
    print(f"saved {result.checkpoint}\nsample with: python -m charrnn.sample --save_dir {FLAGS.save_dir}")


if __name__ == "__main__":
    cli.run(main)
