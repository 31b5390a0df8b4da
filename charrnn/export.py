"""Export a trained model: python -m charrnn.export --save_dir save --format saved_model|tflite --out PATH

A SavedModel folder for servers (tf.saved_model.load(PATH).generate(...), no charrnn needed) or a
TFLite file for phones, with its vocabulary beside it as <name>.vocab.json. See
charrnn/inference/exported_model.py.
"""

import os

from absl import flags

from charrnn import cli
from charrnn.core.errors import CharRNNError
from charrnn.core.files import atomic_write_bytes

cli.define_save_dir()
cli.define_checkpoint()
flags.DEFINE_enum("format", "saved_model", ["saved_model", "tflite"], "What to write.")
flags.DEFINE_string("out", None, "The SavedModel folder or the .tflite file to write (must not exist yet).")
flags.adopt_module_key_flags(cli)  # the shared flags cli defined show in --help
FLAGS = flags.FLAGS


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(folder, name)) for folder, _, names in os.walk(path) for name in names)


def main(argv):
    del argv  # cli.run refuses positional arguments
    if not FLAGS.out:
        raise CharRNNError("--out is required: the SavedModel folder or .tflite file to write")
    if os.path.exists(FLAGS.out):
        raise CharRNNError(f"{FLAGS.out} already exists; choose another --out or remove it")
    cli.import_tensorflow_quietly()
    from charrnn.api import load
    from charrnn.inference import exported_model

    trained = load(FLAGS.save_dir, FLAGS.checkpoint, on_skip=cli.warn)
    model, vocab = trained.model, trained.vocab
    written = [FLAGS.out]
    if FLAGS.format == "saved_model":
        exported_model.save_saved_model(model, vocab, FLAGS.out)
    else:
        vocab_path = os.path.splitext(FLAGS.out)[0] + ".vocab.json"
        atomic_write_bytes(FLAGS.out, exported_model.tflite_bytes(model, vocab))
        atomic_write_bytes(vocab_path, vocab.to_json().encode("utf-8"))
        written.append(vocab_path)
    for path in written:
        print(f"wrote {path} ({_size(path):,} bytes)")


if __name__ == "__main__":
    cli.run(main)
