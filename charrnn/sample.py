"""Generate text from a trained model: python -m charrnn.sample --save_dir save -n 500"""

import secrets
import sys

from absl import flags

from charrnn import cli

flags.DEFINE_string("save_dir", "save", "Run folder written by charrnn.train.")
flags.DEFINE_integer("n", 500, "Number of characters to generate.")
flags.DEFINE_string("prime", "", "Text fed to the model first and printed before the sample "
                    "(default: generation starts after a new line, which is not printed).")
flags.DEFINE_float("temperature", 1.0, "Divides the logits: below 1 is more conservative, above 1 wilder.")
# Modes as in charrnn.sampler, which is imported only after TensorFlow has been quietened.
flags.DEFINE_enum("sample", "1", ["0", "1", "2"],
                  "0: argmax; 1: sample every character; 2: sample only after a space, argmax elsewhere.")
flags.DEFINE_integer("seed", None, "Seed for reproducible sampling (default: a random one).")
flags.DEFINE_string("checkpoint", "latest", "latest, best (lowest validation loss) or a checkpoint prefix.")
FLAGS = flags.FLAGS


def main(argv):
    del argv  # cli.run refuses positional arguments
    cli.import_tensorflow_quietly()
    from charrnn.checkpoints import load_model
    from charrnn.sampler import Sampler, default_prime

    model, vocab, _ = load_model(FLAGS.save_dir, FLAGS.checkpoint)
    seed = FLAGS.seed if FLAGS.seed is not None else secrets.randbelow(2**31)
    text = Sampler(model, vocab).generate(FLAGS.prime or default_prime(vocab), FLAGS.n,
                                          temperature=FLAGS.temperature, mode=int(FLAGS.sample), seed=seed)
    sys.stdout.write(FLAGS.prime + text + "\n")


if __name__ == "__main__":
    cli.run(main)
