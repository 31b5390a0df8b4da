"""Score a trained model on text: python -m charrnn.evaluate --save_dir save [--split test | --text_file PATH]

Prints the mean loss over every character in nats/char, bits/char and perplexity.
"""

import dataclasses

from absl import flags

from charrnn import cli
from charrnn.core.errors import CharRNNError
from charrnn.data.corpus import read_split
from charrnn.data.text_files import encode_file
from charrnn.training.run_folder import read_run_files

cli.define_save_dir()
cli.define_checkpoint()
flags.DEFINE_enum("split", "val", ["val", "test"], "Held-out part of the run's training text to score "
                  "(the same characters training held out).")
flags.DEFINE_string("text_file", None, "Score this text file instead of a split of the training text.")
flags.DEFINE_bool("skip_unknown", False, "Leave out characters of --text_file that the model's vocabulary "
                  "lacks (an error otherwise).")
flags.DEFINE_string("data_dir", None, "Training text folder, if it has moved since training (default: as "
                    "recorded in config.json).")
flags.DEFINE_string("input_file", None, "Training text file, if it has moved since training.")
flags.DEFINE_string("encoding", None, "Encoding of the text (default: the one training used).")
flags.DEFINE_integer("batch_size", None, "Streams scored side by side (default: one per 1,000 characters, at "
                     "most 64; each reads the 100 characters before it first, unscored).",
                     lower_bound=1)
flags.adopt_module_key_flags(cli)  # the shared flags cli defined show in --help
FLAGS = flags.FLAGS


def _held_out_ids(run, vocab):
    """(ids of the asked split, a description of it) from the run's training text, read where
    config.json recorded it unless the flags say it has moved."""
    data = dataclasses.replace(run.data, encoding=FLAGS.encoding or run.data.encoding)
    if FLAGS.data_dir or FLAGS.input_file:
        data = dataclasses.replace(data, data_dir=FLAGS.data_dir, input_file=FLAGS.input_file)
    if not (data.data_dir or data.input_file):
        raise CharRNNError(f"{FLAGS.save_dir}/config.json does not say what text the run trained on; "
                           f"give --data_dir or --input_file")
    ids = read_split(data, vocab, run.train, FLAGS.split, warn=cli.warn)
    return ids, f"{FLAGS.split} split of {data.input_file or data.data_dir}"


def main(argv):
    del argv  # cli.run refuses positional arguments
    run, vocab = read_run_files(FLAGS.save_dir)
    if FLAGS.text_file:
        ids, skipped = encode_file(FLAGS.text_file, FLAGS.encoding or run.data.encoding, vocab, FLAGS.skip_unknown)
        what = FLAGS.text_file + (f" ({skipped:,} unknown characters left out)" if skipped else "")
    else:
        ids, what = _held_out_ids(run, vocab)

    cli.import_tensorflow_quietly()
    from charrnn.api import load
    from charrnn.inference.scoring import Evaluator

    model = load(FLAGS.save_dir, FLAGS.checkpoint, on_skip=cli.warn).model
    score = Evaluator(model, run.train.seq_length, FLAGS.batch_size).score(ids, progress=True)
    print(f"{what}: {score.nats_per_char:.4f} nats/char, {score.bits_per_char:.4f} bits/char, "
          f"perplexity {score.perplexity:.3f} ({score.num_predicted:,} characters scored)")


if __name__ == "__main__":
    cli.run(main)
