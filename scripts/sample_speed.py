"""Generation speed of a trained run, in characters per second after compilation.

    python scripts/sample_speed.py --save_dir save -n 2000 --repeats 5

Prints the compile-inclusive first call and the median of the later ones.
"""

import statistics
import time

from absl import flags

from charrnn import cli

flags.DEFINE_string("save_dir", "save", "Run folder written by charrnn.train.")
flags.DEFINE_integer("n", 2000, "Characters per sample.")
flags.DEFINE_integer("repeats", 5, "Timed samples after the first.")
FLAGS = flags.FLAGS


def main(argv):
    del argv  # cli.run refuses positional arguments
    cli.import_tensorflow_quietly()
    from charrnn.checkpoints import load_model
    from charrnn.sampler import Sampler, default_prime

    model, vocab, config = load_model(FLAGS.save_dir)
    sampler = Sampler(model, vocab)
    seconds = []
    for seed in range(FLAGS.repeats + 1):
        start = time.perf_counter()
        sampler.generate(default_prime(vocab), FLAGS.n, seed=seed)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds[1:])
    print(f"{config.model.num_layers}x{config.model.rnn_size} {config.model.model}, n={FLAGS.n}: first call "
          f"{seconds[0]:.3f} s (with compilation), then median {median:.4f} s = {FLAGS.n / median:,.0f} chars/s")


if __name__ == "__main__":
    cli.run(main)
