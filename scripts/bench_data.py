"""Data benchmark: encoding throughput, cache-hit load time, time to the first training step and
peak memory of training on a large synthetic corpus.

    python scripts/bench_data.py                 # 200 MB corpora in a temporary folder
    python scripts/bench_data.py --size_mb 50 --work_dir /tmp/bench

Two corpora of --size_mb are generated: pure ASCII, and mixed (ASCII with Cyrillic, CJK and
emoji). Peak RSS is measured on `python -m charrnn.train` subprocesses (ru_maxrss from wait4),
once on the mixed corpus and once on tiny-shakespeare with the same flags, for comparison.
"""

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from charrnn.cli import import_tensorflow_quietly  # noqa: E402
from charrnn.data.corpus import find_source, load_corpus  # noqa: E402

ASCII_WORDS = "the of and to in that it with as for was on be by he his at from this had not are but".split()
# Over 256 distinct characters, so the ids need uint16.
MIXED_WORDS = ASCII_WORDS * 10 + ["привет", "мир", "книга", "человек", "😀", "🎉", "naïve", "café", "Straße",
                                  "λόγος"] + [chr(0x4E00 + 2 * i) + chr(0x4E01 + 2 * i) for i in range(300)]
SMALL_TRAINING = ("--rnn_size", "128", "--num_layers", "2", "--batch_size", "50", "--seq_length", "50",
                  "--max_steps", "30", "--val_frac", "0.001", "--eval_every", "1000000", "--print_every", "10",
                  "--seed", "0")


def write_corpus(path: str, words: list, size_bytes: int, seed: int = 0) -> None:
    """Random lines of `words` up to `size_bytes` bytes of UTF-8, written in 8 MB blocks."""
    rng = np.random.default_rng(seed)
    encoded = [w.encode() for w in words]
    with open(path, "wb") as f:
        written = 0
        while written < size_bytes:
            picks = rng.integers(0, len(encoded), 1_500_000)
            line_ends = rng.random(len(picks)) < 0.08
            block = b"".join(encoded[i] + (b"\n" if end else b" ") for i, end in zip(picks, line_ends))
            # Cut to size without leaving half of a multi-byte character at the end.
            block = block[: size_bytes - written].decode("utf-8", "ignore").encode()
            f.write(block)
            written += len(block)
            if not block:
                break


def timed_load(path: str):
    start = time.perf_counter()
    corpus = load_corpus(find_source(None, path))
    return corpus, time.perf_counter() - start


def peak_rss_of_training(input_file: str, work_dir: str, name: str) -> float:
    """Peak RSS in MiB of `python -m charrnn.train` on input_file, started fresh."""
    save = os.path.join(work_dir, f"save_{name}")
    shutil.rmtree(save, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    process = subprocess.Popen([sys.executable, "-m", "charrnn.train", "--input_file", input_file,
                                "--save_dir", save, "--log_dir", os.path.join(work_dir, "logs"),
                                "--run_name", name, *SMALL_TRAINING], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    stdout, stderr = process.stdout.read().decode(), process.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"training on {input_file} failed:\n{stdout}\n{stderr}")
    return usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def time_to_first_step(input_file: str, work_dir: str) -> tuple:
    """Seconds (to import TensorFlow, from then until the text is loaded and the trainer built, and
    until the first training step has run, which includes tracing the step's graph once)."""
    start = time.perf_counter()
    import_tensorflow_quietly()
    imported = time.perf_counter()

    from charrnn.core.config import ModelConfig, RunConfig, TrainConfig
    from charrnn.data.batches import make_splits
    from charrnn.training.trainer import Trainer

    class FirstLine(io.StringIO):
        seen = None

        def write(self, text):
            if FirstLine.seen is None and "train_loss" in text:
                FirstLine.seen = time.perf_counter()
            return len(text)

    corpus = load_corpus(find_source(None, input_file))
    train = TrainConfig(max_steps=1, val_frac=0.001, eval_every=1_000_000)
    run = RunConfig(ModelConfig(vocab_size=len(corpus.vocab)), train, run_name="first_step")
    batches, splits = make_splits(corpus.ids, train.batch_size, train.seq_length, train.val_frac)
    trainer = Trainer(run, corpus.vocab, batches, splits.val, os.path.join(work_dir, "save_first_step"),
                      os.path.join(work_dir, "logs"), out=FirstLine())
    ready = time.perf_counter()
    trainer.train()
    return imported - start, ready - imported, FirstLine.seen - imported


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size_mb", type=float, default=200, help="size of each synthetic corpus in MB (10^6 bytes)")
    parser.add_argument("--work_dir", default=None, help="folder for the corpora (default: a temporary one)")
    parser.add_argument("--shakespeare", default=os.path.join(REPO_ROOT, "..", "shared", "data", "tinyshakespeare",
                                                              "input.txt"), help="tiny-shakespeare, the RSS baseline")
    args = parser.parse_args()
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="charrnn_bench_data_")
    os.makedirs(work_dir, exist_ok=True)
    size = int(args.size_mb * 1e6)
    print(f"work folder {work_dir}; corpora of {size / 1e6:.0f} MB", flush=True)

    results = {}
    for name, words in (("ascii", ASCII_WORDS), ("mixed", MIXED_WORDS)):
        folder = os.path.join(work_dir, name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        path = os.path.join(folder, "input.txt")
        write_corpus(path, words, size)
        corpus, encode_seconds = timed_load(path)
        assert not corpus.from_cache
        corpus, hit_seconds = timed_load(path)
        assert corpus.from_cache
        results[name] = path
        print(f"{name:5s}: {len(corpus.ids):,} chars, {len(corpus.vocab)} distinct, ids {corpus.ids.dtype}; "
              f"encode {size / 1e6 / encode_seconds:.0f} MB/s ({encode_seconds:.2f} s), "
              f"cache-hit load {hit_seconds:.2f} s", flush=True)

    shakespeare = os.path.join(work_dir, "shakespeare", "input.txt")
    os.makedirs(os.path.dirname(shakespeare), exist_ok=True)
    shutil.copyfile(args.shakespeare, shakespeare)
    shutil.rmtree(os.path.join(os.path.dirname(results["mixed"]), ".charrnn_cache"))
    rss = {}
    for name, path in (("shakespeare", shakespeare), ("mixed", results["mixed"])):
        rss[name + " encoding"] = peak_rss_of_training(path, work_dir, name + "_encoding")  # writes the cache
        rss[name] = peak_rss_of_training(path, work_dir, name)  # a cache hit, like every later run
    limit = rss["shakespeare"] + size / 2**20
    print(f"peak RSS of 30 training steps (2x128 LSTM, batch 50x50): tiny-shakespeare {rss['shakespeare']:.0f} MiB "
          f"({rss['shakespeare encoding']:.0f} while encoding); {size / 1e6:.0f} MB mixed corpus {rss['mixed']:.0f} MiB "
          f"({rss['mixed encoding']:.0f} while encoding); target <= {limit:.0f} MiB: "
          f"{'met' if max(rss['mixed'], rss['mixed encoding']) <= limit else 'MISSED'}", flush=True)

    import_seconds, ready_seconds, first_step_seconds = time_to_first_step(results["mixed"], work_dir)
    print(f"second run on the unchanged {size / 1e6:.0f} MB mixed corpus, after TensorFlow imported (in "
          f"{import_seconds:.2f} s): text loaded and trainer built in {ready_seconds:.2f} s, first training step "
          f"done (tracing its graph included) at {first_step_seconds:.2f} s")
    if not args.work_dir:
        shutil.rmtree(work_dir)


if __name__ == "__main__":
    main()
