"""Generate text from a trained model: python -m charrnn.sample --save_dir save -n 500"""

import secrets
import sys

from absl import flags

from charrnn import cli
from charrnn.core.config import SamplingConfig
from charrnn.core.errors import CharRNNError

cli.define_save_dir()
flags.DEFINE_integer("n", 500, "Number of characters to generate (any length: memory stays constant).")
flags.DEFINE_string("prime", "", "Text fed to the model first and printed before the sample "
                    "(default: generation starts after a new line, which is not printed).")
flags.DEFINE_string("prime_file", None, "Read the prime text from this UTF-8 file instead.")
flags.DEFINE_float("temperature", 1.0, "Divides the logits: below 1 is more conservative, above 1 wilder.")
flags.DEFINE_integer("top_k", 0, "Sample only from the k most likely characters (0: all).")
flags.DEFINE_float("top_p", 1.0, "Sample only from the most likely characters that together hold this "
                   "probability (nucleus sampling; 1: all).")
# Modes as in charrnn.inference.sampler, which is imported only after TensorFlow has been quietened.
flags.DEFINE_enum("sample", "1", ["0", "1", "2"],
                  "0: argmax; 1: sample every character; 2: sample only after a space, argmax elsewhere.")
flags.DEFINE_integer("seed", None, "Seed for reproducible sampling (default: a random one). Sample i of "
                     "--num_samples uses seed + i.")
flags.DEFINE_integer("num_samples", 1, "Samples to generate as one batch, printed one after another.")
flags.DEFINE_bool("stream", False, "Print characters as they are generated; Ctrl-C stops and keeps them.")
cli.define_checkpoint()
flags.adopt_module_key_flags(cli)  # the shared flags cli defined show in --help
FLAGS = flags.FLAGS


def _prime() -> str:
    if FLAGS.prime_file is None:
        return FLAGS.prime
    if FLAGS.prime:
        raise CharRNNError("give --prime or --prime_file, not both")
    try:
        with open(FLAGS.prime_file, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError as e:
        raise CharRNNError(f"{FLAGS.prime_file} is not valid UTF-8 (byte offset {e.start})") from None


def main(argv):
    del argv  # cli.run refuses positional arguments
    prime = _prime()
    if FLAGS.num_samples < 1:
        raise CharRNNError(f"--num_samples must be >= 1, got {FLAGS.num_samples}")
    if FLAGS.stream and FLAGS.num_samples > 1:
        raise CharRNNError("--stream prints one sample as it grows; drop --num_samples or --stream")
    seed = FLAGS.seed if FLAGS.seed is not None else secrets.randbelow(2**31 - FLAGS.num_samples)
    settings = dict(temperature=FLAGS.temperature, top_k=FLAGS.top_k, top_p=FLAGS.top_p, sample=int(FLAGS.sample),
                    seed=seed)
    SamplingConfig(**settings)  # a bad combination of flags stops here, before TensorFlow loads

    cli.import_tensorflow_quietly()
    from charrnn.api import load

    # One sample and done: compiling in the background would only delay the exit.
    model = load(FLAGS.save_dir, FLAGS.checkpoint, on_skip=cli.warn, compile_in_background=False)
    if FLAGS.num_samples == 1:
        # Written as it comes, so memory stays constant however long the sample.
        sys.stdout.write(prime)
        try:
            for (piece,) in model.stream(prime or None, FLAGS.n, **settings):
                sys.stdout.write(piece)
                if FLAGS.stream:
                    sys.stdout.flush()
        except KeyboardInterrupt:  # keep what was printed, end its line
            sys.stdout.write("\n")
            sys.stdout.flush()
            raise
        sys.stdout.write("\n")
        return
    texts = model.generate(prime or None, FLAGS.n, num_samples=FLAGS.num_samples, **settings)
    headers = [f"===== sample {i + 1} of {len(texts)} (seed {seed + i}) =====\n" for i in range(len(texts))]
    sys.stdout.write("\n".join(header + prime + text + "\n" for header, text in zip(headers, texts)))


if __name__ == "__main__":
    cli.run(main)
