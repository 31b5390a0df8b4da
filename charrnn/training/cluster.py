"""Which strategy a run asks for and which machines TF_CONFIG names, checked before TensorFlow
loads, so that a bad --strategy setting or TF_CONFIG is one line.

TF_CONFIG is TensorFlow's standard description of a multi-worker cluster: {"cluster": {"worker":
["host:port", ...], "chief": ["host:port"] (optional)}, "task": {"type": "worker", "index": i}}.
Worker 0, or the task of type "chief" if the cluster has one, is the chief.
"""

import dataclasses
import json
from typing import Optional

from charrnn.core.errors import CharRNNError

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
COLLECTIVE_TIMEOUT = 120.0  # seconds a multi-worker step may wait for the other workers
TF_CONFIG = "TF_CONFIG"


@dataclasses.dataclass(frozen=True)
class Cluster:
    """This process's place in a multi-worker run, as TF_CONFIG gives it."""

    task_type: str  # "chief" or "worker"
    task_index: int
    num_tasks: int  # chief and workers
    has_chief_task: bool  # else worker 0 is the chief

    @property
    def is_chief(self) -> bool:
        return self.task_type == "chief" or (self.task_index == 0 and not self.has_chief_task)


def read_cluster(tf_config: Optional[str]) -> Cluster:
    """The Cluster TF_CONFIG describes, or a CharRNNError naming what is wrong with it.

    TF_CONFIG is {"cluster": {"worker": ["host:port", ...], "chief": ["host:port"] (optional)},
    "task": {"type": "worker", "index": i}}.
    """
    if not tf_config:
        raise CharRNNError(f"--strategy multi_worker needs the {TF_CONFIG} environment variable, e.g. "
                           f'{TF_CONFIG}=\'{{"cluster": {{"worker": ["host1:2222", "host2:2222"]}}, '
                           f'"task": {{"type": "worker", "index": 0}}}}\'')
    try:
        config = json.loads(tf_config)
    except json.JSONDecodeError as e:
        raise CharRNNError(f"{TF_CONFIG} is not valid JSON: {e}") from None
    bad = f"{TF_CONFIG} must be {{\"cluster\": {{\"worker\": [\"host:port\", ...]}}, \"task\": {{\"type\": " \
          f"\"worker\", \"index\": i}}}}"
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) \
            or not isinstance(config.get("task"), dict):
        raise CharRNNError(bad)
    cluster, task = config["cluster"], config["task"]
    unknown = sorted(set(cluster) - {"worker", "chief"})
    if unknown:
        raise CharRNNError(f"{TF_CONFIG}: charrnn trains with workers (and an optional chief) only, not {unknown}")
    for job, addresses in cluster.items():
        if not (isinstance(addresses, list) and addresses
                and all(isinstance(a, str) and a.rpartition(":")[2].isdigit() for a in addresses)):
            raise CharRNNError(f"{TF_CONFIG}: cluster.{job} must be a list of \"host:port\" strings, got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise CharRNNError(f"{TF_CONFIG}: there can be one chief, not {len(cluster['chief'])}")
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in cluster:
        raise CharRNNError(f"{TF_CONFIG}: task.type {task_type!r} is not a job of the cluster ({sorted(cluster)})")
    if not (type(index) is int and 0 <= index < len(cluster[task_type])):
        raise CharRNNError(f"{TF_CONFIG}: task.index {index!r} is not in [0, {len(cluster[task_type])})")
    return Cluster(task_type, index, sum(len(a) for a in cluster.values()), has_chief_task="chief" in cluster)
