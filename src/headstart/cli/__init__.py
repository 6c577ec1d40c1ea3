"""The ``headstart`` command: one root, every subcommand registered here, each a thin layer over the Python API
of the same name (parse, call, print).

``options.py`` defines each option two or more commands share, once; ``output.py`` prints; the commands live in
``train.py`` (train, embed), ``use.py`` (evaluate, predict, export, serve), ``study.py`` (compare, advise,
inspect) and ``info.py`` (backbones, cache). Nothing heavy is imported before a command runs.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
import threading
from typing import Sequence

from ..distributed import is_main, leave
from ..errors import ConfigError, HeadstartError
from .info import add_backbones, add_cache
from .output import err_console
from .study import add_advise, add_compare, add_inspect
from .train import add_embed, add_train
from .use import add_evaluate, add_export, add_predict, add_serve

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The root parser with every subcommand; each sets ``run``, the function that carries it out."""
    parser = argparse.ArgumentParser(prog="headstart", description="Transfer learning in one command.")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (add_train, add_evaluate, add_predict, add_export, add_serve, add_compare, add_advise, add_inspect,
                add_backbones, add_cache, add_embed):
        add(commands)
    return parser


def _launch(args: argparse.Namespace, argv: Sequence[str]) -> bool:
    """Start this command as ``--devices`` ranks when asked for more than one and no launcher started them (the
    ranks run it and report; this process waits). Returns whether it did."""
    from ..data.text import data_task
    from ..distributed import _launcher_world, run_ranks

    devices, nodes = getattr(args, "devices", 1), getattr(args, "num_nodes", 1)  # commands without placement: 1
    if (devices * nodes > 1 or _launcher_world() > 1) and args.command in ("train", "compare") \
            and data_task(args.data, args.task, text_column=args.text_column) == "text" \
            and not (args.command == "train" and args.strategy == "full"):
        raise ConfigError("texts run on several processes only to fine-tune (train --strategy full); --devices, "
                          "--num-nodes, torchrun and srun otherwise apply to images.",
                          fix="Pass --strategy full, or run the command without --devices and --num-nodes.")
    if devices * nodes == 1 or _launcher_world() > 1:
        return False
    if nodes > 1:
        raise ConfigError(f"--num-nodes {nodes} needs the command started on every machine.",
                          fix=f"Start it with srun (srun --nodes {nodes} --ntasks-per-node {devices} headstart ...) or "
                              f"torchrun on each machine (torchrun --nnodes {nodes} --nproc-per-node {devices} "
                              "--rdzv-backend c10d --rdzv-endpoint HOST:29500 -m headstart.cli ...); see the README.")
    run_ranks(argv, devices)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``headstart ARGV``; known errors print one line and return 1 (tracebacks with ``--debug``)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        if _launch(args, argv):
            return 0
        result = args.run(args)
        if args.json and is_main():
            print(json.dumps(result, indent=2))
        sys.stdout.flush()
        leave()
    except HeadstartError as error:
        if args.debug:
            raise
        err_console.print(f"[bold red]error:[/] {error.message}", highlight=False)
        return 1
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except BrokenPipeError:  # the reader (e.g. `| head`) has had enough: stop quietly, as coreutils do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141
    return 0


def run() -> None:
    """The ``headstart`` command: :func:`main`, then the exit. Where nothing is left to wait for (no other thread, no
    child process), the exit handlers run and the process ends without unloading every module: tearing torch and
    its libraries down takes 0.6-1.2 s on 2 cores, longer than a prediction."""
    code = main()
    if threading.active_count() > 1 or ("multiprocessing" in sys.modules and
                                        sys.modules["multiprocessing"].active_children()):
        sys.exit(code)
    atexit._run_exitfuncs()  # what a normal exit runs (logging's flush, temporary files, multiprocessing's clean-up)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 141
    os._exit(code)
