"""Generation for the charrnn tab: requests checked, models loaded once per checkpoint, and
requests that wait while others run joined into one batch.

A request asks for `num_samples` samples of `length` characters after `prime` from a run's
latest or best checkpoint. Requests on the same checkpoint with the same temperature, top-k,
top-p and sampling mode can share a batch: each is primed alone, the rows are joined, and every
row draws its characters from its own seed, so each request gets the text it would get alone
(the text `python -m charrnn.sample` prints for the same settings and seed). A batch of 64 rows
makes about 25 times the characters per second of one (Sampler's docstring), so when every slot
is busy the waiting requests are joined rather than queued one by one.
"""

import dataclasses
import math
import queue
import secrets
import shlex
import threading
from typing import Iterator, List, Optional

from charrnn.core.config import ARGMAX, SAMPLE, SAMPLE_MODES, SamplingConfig
from charrnn.core.errors import CharRNNError

# What one request may ask for; docs/dashboard.md gives the same numbers.
MAX_PRIME_CHARS = 10_000
MAX_LENGTH = 20_000
MAX_SAMPLES = 8
CHECKPOINTS = ("latest", "best")


class RequestError(Exception):
    """A request that cannot be served: `status` is its HTTP status, the message says why in a line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class GenerationRequest:
    """What the tab's form asks for. prime '' means the model's default (a new line, not shown);
    sample i of num_samples is drawn with seed + i."""

    run: str
    checkpoint: str = "latest"
    prime: str = ""
    length: int = 500
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    sample: int = SAMPLE
    seed: int = 0
    num_samples: int = 1

    @property
    def sampling(self) -> SamplingConfig:
        return SamplingConfig(temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, sample=self.sample,
                              seed=self.seed)


def _integer(body: dict, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or not low <= value <= high:
        raise RequestError(400, f"{name} must be a whole number from {low:,} to {high:,}, got {value!r}")
    return value


def _number(body: dict, name: str, default: float) -> float:
    value = body.get(name, default)
    if type(value) not in (int, float) or not math.isfinite(value):
        raise RequestError(400, f"{name} must be a number, got {value!r}")
    return float(value)


def parse_request(body: object, runs) -> GenerationRequest:
    """The GenerationRequest a decoded JSON body asks for, checked; `runs` holds the run names
    there are. Raises RequestError (404 for an unknown run, else 400)."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request must be a JSON object")
    unknown = sorted(set(body) - {field.name for field in dataclasses.fields(GenerationRequest)})
    if unknown:
        raise RequestError(400, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    run = body.get("run")
    if not isinstance(run, str) or run not in runs:
        raise RequestError(404, f"no charrnn run named {run!r} in this log folder")
    checkpoint = body.get("checkpoint", "latest")
    if checkpoint not in CHECKPOINTS:
        raise RequestError(400, f"checkpoint must be latest or best, got {checkpoint!r}")
    prime = body.get("prime", "")
    if not isinstance(prime, str):
        raise RequestError(400, "prime must be a string")
    if len(prime) > MAX_PRIME_CHARS:
        raise RequestError(400, f"prime has {len(prime):,} characters; at most {MAX_PRIME_CHARS:,} are read")
    num_samples = _integer(body, "num_samples", 1, 1, MAX_SAMPLES)
    settings = dict(length=_integer(body, "length", 500, 1, MAX_LENGTH),
                    temperature=_number(body, "temperature", 1.0),
                    top_k=_integer(body, "top_k", 0, 0, 1_000_000), top_p=_number(body, "top_p", 1.0),
                    sample=_integer(body, "sample", SAMPLE, min(SAMPLE_MODES), max(SAMPLE_MODES)),
                    seed=_integer(body, "seed", secrets.randbelow(2**31 - num_samples), 0, 2**31 - 1 - num_samples),
                    num_samples=num_samples)
    request = GenerationRequest(run=run, checkpoint=checkpoint, prime=prime, **settings)
    try:
        request.sampling  # noqa: B018 - SamplingConfig checks the combination (a temperature of 0 while sampling)
    except CharRNNError as e:
        raise RequestError(400, str(e).replace("--", "")) from None
    return request


def reproducing_command(request: GenerationRequest, save_dir: str, checkpoint_path: str, sample: int = 0) -> str:
    """The charrnn.sample command that prints sample number `sample` of the request (from that
    very checkpoint: 'latest' moves on as training saves)."""
    words = ["python", "-m", "charrnn.sample", "--save_dir", save_dir, "--checkpoint", checkpoint_path,
             "-n", str(request.length)]
    if request.prime:
        words += ["--prime", request.prime]
    if request.sample != ARGMAX:
        words += ["--temperature", f"{request.temperature:g}"]
    if request.top_k:
        words += ["--top_k", str(request.top_k)]
    if request.top_p < 1:
        words += ["--top_p", f"{request.top_p:g}"]
    if request.sample != SAMPLE:
        words += ["--sample", str(request.sample)]
    return shlex.join(words + ["--seed", str(request.seed + sample)])


@dataclasses.dataclass
class LoadedModel:
    """A checkpoint read into a model, with its sampler."""

    save_dir: str
    checkpoint_path: str
    sampler: object  # charrnn.inference.sampler.Sampler
    config: object  # the run's RunConfig


class ModelCache:
    """One LoadedModel per (save folder, 'latest' or 'best'), read again when a newer checkpoint
    is listed. Generations under way keep the model they started with."""

    def __init__(self):
        self._models = {}
        self._locks = {}
        self._lock = threading.Lock()

    def get(self, save_dir: str, which: str, on_skip=None) -> LoadedModel:
        from charrnn.inference.sampler import Sampler
        from charrnn.training import checkpoints

        key = (save_dir, which)
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one read per checkpoint, however many requests ask for it at once
            loaded = self._models.get(key)
            if loaded is not None and loaded.checkpoint_path == checkpoints.candidate_checkpoints(save_dir, which)[0]:
                return loaded  # still the newest listed: no need to read it all again for damage
            path = checkpoints.find_checkpoint(save_dir, which, on_skip)
            if loaded is None or loaded.checkpoint_path != path:
                model, vocab, config = checkpoints.load_model(save_dir, path)
                # The plain graph only: TensorFlow never frees a model's XLA-compiled loops
                # (tensorflow#64170), so a server that reads each newer checkpoint would grow by
                # megabytes a checkpoint (docs/dashboard.md, soak).
                loaded = LoadedModel(save_dir, path, Sampler(model, vocab, compile_below_batch=0), config)
                self._models[key] = loaded
            return loaded


class Busy(RequestError):
    def __init__(self, waiting: int):
        super().__init__(503, f"{waiting} requests are waiting already; try again in a moment")


_END = object()


class _Member:
    """One request in a batch: the rows [first, first + num_samples) of it, and the queue its
    chunks (lists of strings, one per sample) arrive on."""

    def __init__(self, request: GenerationRequest, first: int):
        self.request, self.first = request, first
        self.chunks = queue.Queue()
        self.cancelled = False


class _Batch:
    def __init__(self, loaded: LoadedModel, sampling: SamplingConfig):
        self.loaded, self.sampling = loaded, sampling
        self.members: List[_Member] = []
        self.rows = 0


class Generations:
    """Runs requests on loaded models: at most `max_running` batches at once, at most
    `max_waiting` requests waiting (more get Busy, HTTP 503), at most `max_rows` rows a batch.

    A request joins a batch that has not started yet on the same checkpoint and sampling
    settings (seed aside); otherwise it opens one, which starts as soon as a slot is free.
    """

    def __init__(self, max_running: int = 2, max_waiting: int = 32, max_rows: int = 64, wait_seconds: float = 300.0):
        self.max_waiting, self.max_rows, self.wait_seconds = max_waiting, max_rows, wait_seconds
        self._slots = threading.BoundedSemaphore(max_running)
        self._lock = threading.Lock()
        self._open = {}  # batch key -> the _Batch that has not started
        self._waiting = 0
        self.batches_run = 0

    def submit(self, loaded: LoadedModel, request: GenerationRequest) -> Iterator[List[str]]:
        """Yields chunks of the request's samples (a list of num_samples strings each) as they
        are generated; together they are the `length` characters after the prime."""
        sampling = dataclasses.replace(request.sampling, seed=0)
        key = (id(loaded), sampling)
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise Busy(self._waiting)
            batch = self._open.get(key)
            if batch is None or batch.rows + request.num_samples > self.max_rows:
                batch = self._open[key] = _Batch(loaded, sampling)
                threading.Thread(target=self._run, args=(key, batch), name="charrnn-generate", daemon=True).start()
            member = _Member(request, batch.rows)
            batch.members.append(member)
            batch.rows += request.num_samples
            self._waiting += 1
        return self._read(member)

    def _read(self, member: _Member) -> Iterator[List[str]]:
        try:
            while True:
                try:
                    item = member.chunks.get(timeout=self.wait_seconds)
                except queue.Empty:
                    raise RequestError(503, f"no text came for {self.wait_seconds:.0f} s; try again") from None
                if item is _END:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:  # the client has what it wanted, or has gone
            member.cancelled = True

    def _run(self, key, batch: _Batch) -> None:
        with self._slots:
            with self._lock:
                if self._open.get(key) is batch:
                    del self._open[key]
                self._waiting -= len(batch.members)
                self.batches_run += 1
            try:
                self._generate(batch)
            except Exception as e:  # noqa: BLE001 - each waiting client hears of it, in a line
                if not isinstance(e, (RequestError, CharRNNError)):
                    e = RequestError(500, f"generation failed: {(str(e).strip().splitlines() or [type(e).__name__])[0]}")
                for member in batch.members:
                    member.chunks.put(e)
                return
            for member in batch.members:
                member.chunks.put(_END)

    def _generate(self, batch: _Batch) -> None:
        import numpy as np
        import tensorflow as tf

        from charrnn.inference.sampler import default_prime

        sampler = batch.loaded.sampler
        logits, states, previous, seeds = [], [], [], []
        for member in batch.members:
            request = member.request
            member_logits, member_states, last_id = sampler.prime(request.prime or default_prime(sampler.vocab),
                                                                  request.num_samples)
            logits.append(member_logits)
            states.append(member_states)
            previous += [last_id] * request.num_samples
            seeds += list(request.seed + np.arange(request.num_samples))
        # Rows padded to a power of two (copies of the first row, whose text nobody reads): each
        # batch size is a compilation of the sampling loop, and joined requests make all sizes.
        padding = (1 << (len(seeds) - 1).bit_length()) - len(seeds)
        pad = lambda rows: rows + [rows[0][:1]] * padding  # noqa: E731
        logits = tf.concat(pad(logits), axis=0)
        states = tuple(tf.concat(pad(list(layer)), axis=0) for layer in zip(*states))
        previous, seeds = previous + previous[:1] * padding, seeds + seeds[:1] * padding
        length = max(member.request.length for member in batch.members)
        done = 0
        for chunk in sampler.stream_from(logits, states, np.array(previous), np.array(seeds), length, batch.sampling):
            for member in batch.members:
                wanted = member.request.length - done
                if wanted > 0 and not member.cancelled:
                    rows = chunk[member.first: member.first + member.request.num_samples]
                    member.chunks.put([text[:wanted] for text in rows])
            done += len(chunk[0])
            if all(member.cancelled or member.request.length <= done for member in batch.members):
                return
