"""Generate text with an exported TFLite one-step model, using only the TFLite interpreter and numpy.

    python -m charrnn.export --save_dir save --format tflite --out model.tflite
    python scripts/tflite_generate.py model.tflite --prime "ROMEO:" -n 200 --temperature 0.8

A reference for running the model on a phone: feed one character id and the state, read the
logits and the new state, pick the next character, repeat. Needs no charrnn import.
"""

import argparse
import json
import os

import numpy as np


def interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter  # the standalone TFLite runtime
    except ImportError:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
    return Interpreter


class OneStepModel:
    """The exported model: step(id, states) -> (logits [vocab], states)."""

    def __init__(self, path: str):
        self.interpreter = interpreter_class()(model_path=path)
        self.runner = self.interpreter.get_signature_runner()
        details = self.runner.get_input_details()
        self.state_names = sorted((name for name in details if name.startswith("state_")), key=lambda n: int(n[6:]))
        self.state_shapes = [details[name]["shape"] for name in self.state_names]

    def zero_state(self) -> list:
        return [np.zeros(shape, np.float32) for shape in self.state_shapes]

    def step(self, char_id: int, states: list):
        outputs = self.runner(ids=np.array([char_id], np.int32), **dict(zip(self.state_names, states)))
        return outputs["logits"][0], [outputs[name] for name in self.state_names]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the .tflite file; its vocabulary is <name>.vocab.json beside it")
    parser.add_argument("--prime", default="\n")
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=1.0, help="0 takes the argmax")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open(os.path.splitext(args.model)[0] + ".vocab.json", encoding="utf-8") as f:
        chars = json.load(f)["chars"]
    ids = {char: i for i, char in enumerate(chars)}
    model, rng = OneStepModel(args.model), np.random.default_rng(args.seed)
    states = model.zero_state()
    for char in args.prime:
        logits, states = model.step(ids[char], states)
    out = []
    for _ in range(args.n):
        if args.temperature > 0:
            p = np.exp((logits - logits.max()) / args.temperature)
            next_id = int(rng.choice(len(chars), p=p / p.sum()))
        else:
            next_id = int(np.argmax(logits))
        out.append(chars[next_id])
        logits, states = model.step(next_id, states)
    print(args.prime + "".join(out))


if __name__ == "__main__":
    main()
