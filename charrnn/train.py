"""Train a character-level language model: python -m charrnn.train --data_dir data/shakespeare

Reads the flags into a RunRequest; charrnn.training.launch settles the run and its text,
charrnn.training.trainer.Trainer trains it.
"""

import dataclasses
import os
import signal
import sys

from absl import flags

from charrnn import cli
from charrnn.core.config import CELL_TYPES, LR_SCHEDULES, RECIPES, DataConfig, ModelConfig, TrainConfig
from charrnn.core.errors import CharRNNError
from charrnn.training import launch
from charrnn.training.recipe import HELD_BACK_PASSES

_MODEL = ModelConfig(vocab_size=1)
_TRAIN = TrainConfig()

flags.DEFINE_string("data_dir", "data/shakespeare", "Folder holding input.txt, or else *.txt files (joined in "
                    "sorted name order). data/shakespeare is fetched on first use.")
flags.DEFINE_string("input_file", None, "Train on this one text file instead of --data_dir.")
flags.DEFINE_string("encoding", "utf-8", "Encoding of the text files, e.g. utf-16, latin-1, cp1251, shift_jis.")
cli.define_save_dir("Folder for config.json, vocab.json and checkpoints.")
# absl.logging owns --log_dir (for its own log files, which charrnn never writes), so the flag
# is reused for TensorBoard rather than defined twice.
flags.FLAGS.set_default("log_dir", "logs")
flags.FLAGS["log_dir"].help = "TensorBoard folder; each run writes to a subfolder named by --run_name."
flags.declare_key_flag("log_dir")  # shown in --help (and in the docs' table) with the flags defined here
flags.DEFINE_string("run_name", None, "Name of this run's TensorBoard subfolder (default: the start time). "
                    "A continued run keeps its name.")
flags.DEFINE_string("init_from", None, "Continue the run saved in this folder: same step, learning-rate "
                    "schedule and place in the epoch. Naming --save_dir while it holds no checkpoint yet, it "
                    "starts the run there.")
flags.DEFINE_string("finetune_from", None, "Start a new run (step 0, its own schedule and --save_dir) from the "
                    "weights of the run saved in this folder, on the text given; characters it lacks are added.")
flags.DEFINE_enum("model", _MODEL.model, CELL_TYPES, "Recurrent cell type.")
flags.DEFINE_integer("rnn_size", _MODEL.rnn_size, "Units per recurrent layer (and embedding width).")
flags.DEFINE_integer("num_layers", _MODEL.num_layers, "Number of recurrent layers.")
flags.DEFINE_float("dropout", _MODEL.dropout, "Dropout rate after each recurrent layer, in [0, 1).")
flags.DEFINE_integer("embedding_size", None, "Width of the character embedding (default: --rnn_size).")
flags.DEFINE_bool("layer_norm", _MODEL.layer_norm, "Layer-normalise each recurrent layer's output.")
flags.DEFINE_bool("residual", _MODEL.residual, "Add each recurrent layer's input to its output, from the second "
                  "layer on.")
flags.DEFINE_float("embedding_dropout", _MODEL.embedding_dropout, "Dropout rate on the embedded characters, in [0, 1).")
flags.DEFINE_bool("tie_embeddings", _MODEL.tie_embeddings, "The output layer reuses the embedding's weights "
                  "(needs --embedding_size equal to --rnn_size).")
flags.DEFINE_float("weight_drop", _MODEL.weight_drop, "DropConnect rate on the recurrent kernels in training, "
                   "one mask per batch (AWD-LSTM's weight drop), in [0, 1).")
flags.DEFINE_bool("locked_dropout", _MODEL.locked_dropout, "--dropout and --embedding_dropout drop the same units "
                  "at every timestep of a stream (variational dropout).")
flags.DEFINE_integer("batch_size", _TRAIN.batch_size, "Parallel streams of text per batch.")
flags.DEFINE_integer("seq_length", _TRAIN.seq_length, "Characters per stream per batch (BPTT length).")
flags.DEFINE_float("val_frac", _TRAIN.val_frac, "Fraction of the text held out for validation (before the "
                   "test split, at the end).")
flags.DEFINE_float("test_frac", _TRAIN.test_frac, "Fraction of the text (its very end) held out for "
                   "python -m charrnn.evaluate --split test.")
flags.DEFINE_float("learning_rate", _TRAIN.learning_rate, "Adam learning rate.")
flags.DEFINE_float("decay_rate", _TRAIN.decay_rate, "Learning-rate decay factor applied once per epoch "
                   "(--lr_schedule exponential).")
flags.DEFINE_enum("lr_schedule", _TRAIN.lr_schedule, LR_SCHEDULES, "exponential: char-rnn's decay by --decay_rate "
                  "per epoch; cosine: down to --min_lr at the run's last step (under --max_minutes, the step "
                  "the time allows); constant.")
flags.DEFINE_integer("warmup_steps", _TRAIN.warmup_steps, "Steps over which the learning rate rises linearly to "
                     "--learning_rate.")
flags.DEFINE_float("min_lr", _TRAIN.min_lr, "The lowest learning rate any schedule reaches.")
flags.DEFINE_float("weight_decay", _TRAIN.weight_decay, "Decoupled weight decay (AdamW) of the weights, not the "
                   "biases; 0: Adam.")
flags.DEFINE_float("adam_beta2", _TRAIN.adam_beta2, "Adam's beta2, the decay of its average of squared "
                   "gradients, in (0, 1); nanoGPT uses 0.99 for small models.")
flags.DEFINE_float("ema_decay", _TRAIN.ema_decay, "Validate, sample and export with an exponential moving "
                   "average of the weights, of this decay per step, in [0, 1); 0: the weights themselves.")
flags.DEFINE_float("grad_clip", _TRAIN.grad_clip, "Clip gradients to this global norm.")
flags.DEFINE_integer("grad_accum_steps", _TRAIN.grad_accum_steps, "Run each batch's streams in this many groups, "
                     "one after another, accumulating their gradients: the same step in about 1/N of the "
                     "activation memory, for a --batch_size too large to fit at once.")
flags.DEFINE_integer("num_epochs", _TRAIN.num_epochs, "Passes over the training text.")
flags.DEFINE_integer("max_steps", None, "Stop after this many steps in all (counting earlier runs).")
flags.DEFINE_float("max_minutes", None, "Stop after this many minutes of wall time in all (counting earlier runs; "
                   "validation and saving included), with a final validation and checkpoint.")
flags.DEFINE_enum("recipe", _TRAIN.recipe, RECIPES, "auto: with --max_minutes, a new run times a few "
                  "training steps of GRUs of several widths here and picks the model, dropout, weight decay, "
                  "learning rate and precision (and, for a text it would see more than "
                  f"{HELD_BACK_PASSES} times, weight drop and the weight average) for the budget and the "
                  "text's size (docs/training.md); settings given too are kept. A continued run keeps its "
                  "choice.")
flags.DEFINE_integer("seed", None, "Random seed (default: a random one, recorded in config.json).")
flags.DEFINE_integer("print_every", _TRAIN.print_every, "Print a train_loss line every this many steps.")
flags.DEFINE_integer("eval_every", _TRAIN.eval_every, "Validate every this many steps (and at each epoch's end).")
flags.DEFINE_integer("eval_chars", _TRAIN.eval_chars, "Periodic validations score the first this many characters "
                     "of the validation split; the run's last scores the whole split too.")
flags.DEFINE_integer("save_every", _TRAIN.save_every, "Checkpoint every this many steps (and at each "
                     "epoch's end, at the end and on Ctrl-C).")
flags.DEFINE_integer("keep_checkpoints", _TRAIN.keep_checkpoints, "How many recent checkpoints to keep "
                     "(the best one is kept apart).")
cli.define_compute_flags()
flags.DEFINE_bool("deterministic", False, "TensorFlow op determinism: with --seed, a run interrupted and "
                  "continued gives the same losses and weights as one run straight through (CPU).")
flags.adopt_module_key_flags(cli)  # the shared flags cli defined show in --help
FLAGS = flags.FLAGS

# The flags that are settings of the run: config fields, and which text to read.
SETTINGS = sorted({f.name for config in (ModelConfig, TrainConfig, DataConfig) for f in dataclasses.fields(config)}
                  & set(FLAGS))


def main(argv):
    del argv  # cli.run refuses positional arguments
    request = launch.RunRequest(settings={name: FLAGS[name].value for name in SETTINGS},
                                given=frozenset(name for name in SETTINGS if FLAGS[name].present),
                                save_dir=FLAGS.save_dir, log_dir=FLAGS.log_dir, init_from=FLAGS.init_from,
                                finetune_from=FLAGS.finetune_from, run_name=FLAGS.run_name)
    cli.check_strategy(FLAGS.strategy)
    if FLAGS.recipe == "auto" and FLAGS.strategy == "multi_worker":
        raise CharRNNError("--recipe auto times this machine alone, and each worker would choose for itself: with "
                           "--strategy multi_worker give the model's flags (see the recipes in docs/training.md)")
    prepared = launch.prepare_run(request, warn=cli.warn)  # every check that needs no TensorFlow

    cli.import_tensorflow_quietly()
    cli.configure_threads(FLAGS.intra_op_threads, FLAGS.inter_op_threads)
    from charrnn.training import distribution

    strategy = distribution.make_strategy(FLAGS.strategy)
    if FLAGS.deterministic:
        import tensorflow as tf
        tf.config.experimental.enable_op_determinism()
    from charrnn.training.progress import start_line
    from charrnn.training.trainer import Trainer

    seconds_spent = 0.0
    if prepared.run.train.recipe == "auto" and not prepared.continues:
        from charrnn.training import recipe
        prepared, choice = recipe.choose_for_run(prepared, strategy, FLAGS.recurrence)
        print(choice.line, flush=True)
        seconds_spent = choice.seconds
    trainer = Trainer.start(prepared, recurrence=FLAGS.recurrence, warn=cli.warn, strategy=strategy,
                            collective_timeout=FLAGS.collective_timeout, seconds_spent=seconds_spent)
    if trainer.chief:  # the other workers of a multi-worker run print nothing but errors
        print(start_line(trainer.run.run_name, prepared.num_chars, prepared.from_cache, len(prepared.vocab),
                         len(prepared.train_batches), trainer.step, trainer.total_steps,
                         os.path.join(FLAGS.log_dir, trainer.run.run_name)), flush=True)
        cli.note_bfloat16(trainer.run.train.precision)  # the run's: a recipe or config.json may have chosen it
    signals = launch.stop_on_signals(trainer)
    result = trainer.train()

    if not trainer.chief:
        return
    if result.median_time_per_batch is not None:
        print(f"median time/batch = {result.median_time_per_batch:.4f} s, best val_loss = {result.best_val_loss:.4f}")
    if result.interrupted:  # by a signal to this process, or to another worker of a multi-worker run
        cause = f"interrupted by {signal.Signals(signals[-1]).name}" if signals else "stopped with the other workers"
        print(f"{cause} at step {result.step}; saved {result.checkpoint}\n"
              f"continue with: python -m charrnn.train --save_dir {FLAGS.save_dir} --init_from {FLAGS.save_dir}")
        sys.exit(128 + signals[-1] if signals else 0)
    print(f"saved {result.checkpoint}\nsample with: python -m charrnn.sample --save_dir {FLAGS.save_dir}")


if __name__ == "__main__":
    cli.run(main)
