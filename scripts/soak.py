"""Soak: run charrnn.train for a long time and watch each process's threads, memory and open files.

    python scripts/soak.py --strategy multi_worker --steps 20000 -- --data_dir data/shakespeare
    python scripts/soak.py --strategy one_device --minutes 30 -- --data_dir data/shakespeare

Everything after `--` goes to charrnn.train as it is. The run trains for --steps steps (its
--max_steps) or --minutes minutes (its --max_minutes) in a folder of its own (--work_dir, default
a temporary one): on one device, with `mirrored` over --devices logical CPU devices (standing in
for GPUs), or as a pair of `multi_worker` processes on 127.0.0.1 (free ports, TF_CONFIG set here).
Every --every seconds it reads each process's thread count, resident memory and open file
descriptors from /proc, with the step the chief has printed, and prints a line. At the end it
judges each resource against the sample at --baseline_step (memory: the first sample after the
first validation, which allocates the scoring and sampling graphs):

- threads: at most 1.5 times the baseline;
- resident memory: less than 10% above it;
- open file descriptors: at most 4 more (a checkpoint or log file being written when sampled).

It prints the verdict, writes all samples to --out (JSON, with the machine and the command) and
exits 0 when every resource stayed flat, 1 when one grew or the run failed. Linux only (/proc).
"""

import argparse
import collections
import dataclasses
import datetime
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from charrnn.core.machine import cpu_description  # noqa: E402

THREAD_GROWTH, RSS_GROWTH, FD_GROWTH = 1.5, 1.10, 4
STEP_LINE = re.compile(r"^(\d+)/\d+ \(epoch \d+\), (train_loss|val_loss)")
# charrnn.train with --strategy mirrored over `n` logical CPU devices, which TensorFlow takes
# only before it runs an op: made here, then the command runs as usual.
ON_LOGICAL_CPUS = ("import sys, tensorflow as tf\n"
                   "tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0], "
                   "[tf.config.LogicalDeviceConfiguration()] * {n})\n"
                   "from charrnn import cli, train\n"
                   "sys.argv[0] = 'charrnn.train'\n"
                   "cli.run(train.main)\n")


@dataclasses.dataclass(frozen=True)
class Reading:
    threads: int
    rss_mib: float
    fds: int


def read_process(pid: int) -> Optional[Reading]:
    """Threads, resident MiB and open file descriptors of `pid`, or None once it has ended."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        return Reading(int(status["Threads"]), int(status["VmRSS"].split()[0]) / 1024, len(os.listdir(f"/proc/{pid}/fd")))
    except (OSError, KeyError):
        return None


def judge(samples: list, baseline_step: int) -> dict:
    """{resource: {"baseline", "end", "flat"}} for threads, rss_mib and fds over `samples`
    [{"step", "first_validation_done", "processes": [Reading as a dict, ...]}, ...], per process
    (lists, one entry per process); {"error": ...} when the run was too short to judge."""
    alive = [s for s in samples if all(p is not None for p in s["processes"])]
    after_baseline = [s for s in alive if s["step"] >= baseline_step]
    after_validation = [s for s in after_baseline if s["first_validation_done"]]
    if len(after_baseline) < 2 or len(after_validation) < 2:
        return {"error": f"too few samples after step {baseline_step} and the first validation to judge growth"}
    first, first_validated, last = after_baseline[0], after_validation[0], alive[-1]

    def verdict(name, baseline_sample, is_flat):
        baseline = [p[name] for p in baseline_sample["processes"]]
        end = [p[name] for p in last["processes"]]
        return {"baseline_step": baseline_sample["step"], "baseline": baseline, "end_step": last["step"], "end": end,
                "flat": all(is_flat(b, e) for b, e in zip(baseline, end))}

    return {"threads": verdict("threads", first, lambda b, e: e <= THREAD_GROWTH * b),
            "rss_mib": verdict("rss_mib", first_validated, lambda b, e: e < RSS_GROWTH * b),
            "fds": verdict("fds", first, lambda b, e: e <= b + FD_GROWTH)}


def free_ports(count: int, rng=None) -> list:
    """`count` loopback ports that are free now, for servers that bind them later (TensorFlow's).

    They are drawn from below the kernel's ephemeral range (ip_local_port_range), where port 0 and
    outgoing connections never land: a port found free there stays free until its server binds it
    unless another caller draws the same one, which the random draw makes unlikely.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768  # Linux's default
    rng = rng or random.SystemRandom()
    ports = []
    candidates = range(10_000, max(ephemeral_low, 10_000 + 100 * count))
    for port in rng.sample(candidates, k=min(2_000, len(candidates))):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use
        ports.append(port)
        if len(ports) == count:
            return ports
    raise RuntimeError(f"no {count} free loopback ports below {ephemeral_low}")


def commands(args, train_flags: list, work_dir: str) -> list:
    """(argv, extra environment) of each process of the run, the chief first."""
    length = ["--max_steps", str(args.steps)] if args.steps else ["--max_minutes", str(args.minutes)]
    flags = ["--strategy", args.strategy, "--save_dir", os.path.join(work_dir, "save"),
             "--log_dir", os.path.join(work_dir, "logs"), *length, *train_flags]
    if args.strategy == "mirrored":
        return [([sys.executable, "-c", ON_LOGICAL_CPUS.format(n=args.devices), *flags], {})]
    if args.strategy == "one_device":
        return [([sys.executable, "-m", "charrnn.train", *flags], {})]
    addresses = [f"127.0.0.1:{port}" for port in free_ports(args.workers)]
    return [([sys.executable, "-m", "charrnn.train", *flags],
             {"TF_CONFIG": json.dumps({"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}})})
            for i in range(args.workers)]


class Watched:
    """A started process whose stdout is read for the chief's step and whose stderr's last lines are kept."""

    def __init__(self, argv, env):
        self.process = subprocess.Popen(argv, env=dict(os.environ, PYTHONPATH=REPO_ROOT, **env), cwd=REPO_ROOT,
                                        text=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.step, self.validated = 0, False
        self.stderr_tail = collections.deque(maxlen=5)
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self):
        for line in self.process.stdout:
            match = STEP_LINE.match(line)
            if match:
                self.step = int(match[1])
                self.validated = self.validated or match[2] == "val_loss"

    def _read_stderr(self):
        for line in self.process.stderr:
            if line.strip():
                self.stderr_tail.append(line.rstrip())

    def end(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for reader in self._readers:
            reader.join(timeout=10)


def soak(args, train_flags: list, work_dir: str) -> dict:
    """Runs the training and samples it until every process has ended; the report as a dict."""
    started, samples, watched = time.monotonic(), [], []
    launched = commands(args, train_flags, work_dir)
    try:
        for argv, env in launched:
            watched.append(Watched(argv, env))
        chief = watched[0]
        while any(w.process.poll() is None for w in watched):
            if time.monotonic() - started > args.timeout_minutes * 60:
                raise TimeoutError(f"the run did not end within --timeout_minutes {args.timeout_minutes}")
            readings = [read_process(w.process.pid) for w in watched]
            validated = chief.validated  # read before the step, which only grows: never a step before it
            sample = {"seconds": round(time.monotonic() - started, 1), "step": chief.step,
                      "first_validation_done": validated,
                      "processes": [dataclasses.asdict(r) if r else None for r in readings]}
            samples.append(sample)
            print(f"{sample['seconds']:8.0f} s  step {chief.step:6d}  " + "  |  ".join(
                f"threads {r.threads:5d}  RSS {r.rss_mib:7.1f} MiB  fds {r.fds:4d}" if r else "ended"
                for r in readings), flush=True)
            time.sleep(args.every)
    finally:
        for w in watched:
            w.end()
    codes = [w.process.returncode for w in watched]
    failure = next((f"process {i} exited with {code}: {w.stderr_tail[-1] if w.stderr_tail else 'no message'}"
                    for i, (w, code) in enumerate(zip(watched, codes)) if code != 0), None)
    return {"machine": cpu_description(), "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "strategy": args.strategy, "processes": len(watched), "train_flags": train_flags,
            "commands": [{"argv": argv, "env": env} for argv, env in launched],
            "steps_reached": chief.step, "seconds": round(time.monotonic() - started, 1),
            "exit_codes": codes, "failure": failure, "samples": samples,
            "verdict": judge(samples, args.baseline_step)}


def parse_args(argv: list):
    before, train_flags = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategy", choices=("one_device", "mirrored", "multi_worker"), default="one_device")
    length = parser.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int, help="training steps (charrnn.train --max_steps)")
    length.add_argument("--minutes", type=float, help="minutes of training (charrnn.train --max_minutes)")
    parser.add_argument("--workers", type=int, default=2, help="processes of a multi_worker run")
    parser.add_argument("--devices", type=int, default=2, help="logical CPU devices of a mirrored run")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--baseline_step", type=int, default=200, help="the step growth is measured from")
    parser.add_argument("--timeout_minutes", type=float, default=240.0, help="kill the run after this long")
    parser.add_argument("--work_dir", help="folder for the run's save and log folders (default: a temporary one)")
    parser.add_argument("--out", default="soak.json", help="JSON report")
    args = parser.parse_args(before)
    for name in ("steps", "minutes", "workers", "devices", "every"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            parser.error(f"--{name} must be positive, got {value}")
    return args, train_flags


def main(argv: list) -> int:
    args, train_flags = parse_args(argv)
    if not os.path.isdir("/proc/self/fd"):
        print("soak.py: error: needs Linux's /proc to read threads, memory and open files", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="charrnn_soak_") as temporary:
        work_dir = os.path.abspath(args.work_dir or temporary)
        try:
            report = soak(args, train_flags, work_dir)
        except (TimeoutError, OSError) as error:
            print(f"soak.py: error: {error}", file=sys.stderr)
            return 1
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    verdict = report["verdict"]
    print(f"{report['machine']}; {args.strategy}, {report['processes']} process(es); "
          f"{report['steps_reached']} steps in {report['seconds']:.0f} s")
    if report["failure"]:
        print(f"soak.py: error: the run failed: {report['failure']}", file=sys.stderr)
        return 1
    if "error" in verdict:
        print(f"soak.py: error: {verdict['error']}", file=sys.stderr)
        return 1
    for name, result in verdict.items():
        print(f"{name}: {result['baseline']} at step {result['baseline_step']} -> {result['end']} at step "
              f"{result['end_step']}: {'flat' if result['flat'] else 'GREW'}")
    print(f"wrote {args.out}")
    return 0 if all(result["flat"] for result in verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
