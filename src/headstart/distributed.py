"""Processes working together on one job: joining them, who writes, sharing decisions and work.

Every process (a *rank*) runs the whole command; Lightning's DDP/FSDP strategies and ``torch.distributed`` move the
gradients and the results between them, and only rank 0 writes files. Processes come from a launcher: ``torchrun``,
SLURM's ``srun``, or, for ``--devices N`` on one machine without one, headstart itself (:func:`run_ranks`, the
elastic agent ``torchrun`` uses, which stops every rank and reports which one failed when one dies). In Python
without a launcher, :func:`join` re-runs the script once per extra device, as Lightning's own launcher does.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from typing import Any, Sequence, TypeVar

from .errors import ConfigError, HeadstartError

DISTRIBUTED = ("auto", "ddp", "fsdp")
T = TypeVar("T")


def _launcher_world() -> int:
    """How many processes an external launcher (torchrun, srun, Lightning's) started for this job; 1 if none."""
    if "WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    if "SLURM_NTASKS" in os.environ and "SLURM_PROCID" in os.environ:  # srun: Lightning's SLURMEnvironment
        return int(os.environ["SLURM_NTASKS"])
    return 1


def world_size() -> int:
    """Processes in this job (1 when not distributed)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else _launcher_world()


def rank() -> int:
    """This process's global rank (0 when not distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0))) if _launcher_world() > 1 else 0


def local_world_size() -> int:
    """Processes of this job on this machine (they share its cores)."""
    for name in ("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"):
        if os.environ.get(name, "").isdigit() and _launcher_world() > 1:
            return int(os.environ[name])
    return 1


def is_main() -> bool:
    """Whether this process is rank 0, the one that writes models, results and reports and prints."""
    return rank() == 0


def lightning_strategy(distributed: str, processes: int) -> Any:
    """Lightning's strategy for ``distributed`` (``auto``: DDP when there is more than one process)."""
    if processes == 1:
        return "auto"
    if distributed == "fsdp":
        from lightning.pytorch.strategies import FSDPStrategy

        return FSDPStrategy(use_orig_params=True)  # the optimizer's parameter groups are built before wrapping
    from lightning.pytorch.strategies import DDPStrategy

    return DDPStrategy()


def check_settings(*, devices: int, num_nodes: int, distributed: str) -> None:
    """Refuse a ``distributed`` name Lightning does not get from us, and a launcher that started another number of
    processes than ``devices`` × ``num_nodes``."""
    if distributed not in DISTRIBUTED:
        raise ConfigError(f"unknown distributed strategy {distributed!r}.", fix=f"Choose one of {', '.join(DISTRIBUTED)}.")
    started = _launcher_world()
    if started > 1 and started != devices * num_nodes:
        local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("SLURM_NTASKS_PER_NODE", started)))
        raise ConfigError(f"the launcher started {started} processes, but --devices {devices} × --num-nodes "
                          f"{num_nodes} = {devices * num_nodes}.",
                          fix=f"Pass --devices {local} --num-nodes {max(1, started // local)} (processes per machine, "
                              "machines), as given to torchrun or srun.")


def join(*, accelerator: str, devices: int, num_nodes: int, distributed: str) -> int:
    """Bring every process of this job into one process group, before any work that must agree across them.

    Under torchrun or srun the processes exist already; otherwise, with more than one device, Lightning's launcher
    re-runs this script once per extra device (the script must be safe to re-run: ``if __name__ == "__main__"``).
    Returns the number of processes. Idempotent."""
    check_settings(devices=devices, num_nodes=num_nodes, distributed=distributed)
    processes = devices * num_nodes
    if processes == 1:
        return 1
    import torch.distributed as dist

    if not dist.is_initialized():
        from lightning.fabric import Fabric

        from .training.trainer import quiet_lightning

        with quiet_lightning():
            Fabric(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy="ddp").launch()
    return dist.get_world_size()


def broadcast(value: T) -> T:
    """Rank 0's ``value`` on every rank (the value itself when not distributed)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    """Wait until every rank gets here (nothing to wait for when not distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def gather(value: T) -> list[T]:
    """Every rank's ``value``, in rank order, on every rank."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return [value]
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return values


def leave() -> None:
    """End this rank's part of a finished job: wait for every rank, then close the process group (a rank that exits
    with the group open can be aborted by its communication threads: "terminate called without an active
    exception"). Nothing to do when not distributed."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def shard(count: int) -> range:
    """The indices of ``count`` items this rank handles: a contiguous block, the blocks of all ranks covering
    every index once."""
    size, index = world_size(), rank()
    return range(count * index // size, count * (index + 1) // size)


class RankFailed(HeadstartError):
    """A process of a distributed job died or failed, so the whole job was stopped."""


def run_ranks(argv: Sequence[str], processes: int) -> None:
    """Run ``python -m headstart.cli ARGV`` as ``processes`` ranks on this machine under torch's elastic agent (what
    ``torchrun --standalone`` runs); when any rank fails, the agent stops the others and this raises
    :class:`RankFailed` naming which rank failed and how."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=processes, run_id=str(uuid.uuid4()),
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5)
    try:
        elastic_launch(config, sys.executable)("-m", "headstart.cli", *argv)
    except ChildFailedError as error:
        # The cause first: a rank killed by a signal other than the agent's SIGTERM, then one that exited with an
        # error (a rank whose peer vanished fails too, as a consequence), earliest first.
        failures = sorted(error.failures.items(), key=lambda item: (
            item[1].exitcode == -signal.SIGTERM, item[1].exitcode > 0, item[1].timestamp, item[0]))
        first_rank, first = failures[0]
        others = "; ".join(f"rank {r}: {_ending(f.exitcode)}" for r, f in failures[1:])
        raise RankFailed(f"rank {first_rank} of {processes} (pid {first.pid}) {_ending(first.exitcode)}, so every "
                         f"rank was stopped{f' ({others})' if others else ''}. A model and metrics.json are written "
                         "only when a run finishes, so none were (compare keeps the runs it had finished, for "
                         "--resume).",
                         fix="See that rank's output above for why (out of memory: a smaller --batch-size); then "
                             "run the command again (embeddings already cached are not computed again).") from None


def _ending(exitcode: int) -> str:
    return f"was killed by {signal.Signals(-exitcode).name}" if exitcode < 0 else f"exited with code {exitcode}"
