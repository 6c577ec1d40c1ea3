"""Commands that study data and backbones: ``compare`` (strategies × sizes), ``advise`` and ``inspect``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..atomic import check_writable_folder, write_text_atomically
from ..distributed import is_main
from . import options as o
from .output import console, print_ranking, print_stages


def add_compare(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("compare", help="scratch vs. the strategies across training sizes, with a report",
                            description="Train every strategy on the same nested subsets and score them on one "
                                        "test set. Example: headstart compare photos/ --per-class 5,10,all "
                                        "--out compare/")
    o.add(p, o.DATA)
    p.add_argument("--out", default="headstart-compare", help="folder for results.json/.csv, plots, report.html")
    o.add(p, o.BACKBONE)
    p.add_argument("--strategies", help="comma-separated (default scratch,frozen,multilayer,partial,full,prototype,knn; "
                                        "scratch,frozen,prototype,knn,full,auto for text); images also take auto, "
                                        "scored beside the strategies it chooses from")
    p.add_argument("--per-class", help="training examples per class, comma-separated (default 5,10,25,50,100,all; "
                                       "4,8,16,64,all for text)")
    p.add_argument("--seeds", type=int, default=3, help="subsets drawn (and runs seeded) per size")
    test = p.add_mutually_exclusive_group()
    test.add_argument("--test", help="separate labelled test data (default: a split of DATA)")
    test.add_argument("--test-fraction", type=float, default=0.3, help="test share of DATA without --test")
    o.add(p, o.IMAGE_SIZE, o.EPOCHS)
    p.add_argument("--time-budget", type=float, default=45.0,
                   help="trained strategies: seconds of training per run, best epoch kept (default 45; 0: no limit)")
    p.add_argument("--resume", action="store_true", help="continue the results in --out, running what is missing")
    o.add(p, *o.PLACEMENT, o.DISTRIBUTED_STRATEGY, *o.TEXT_TABLE)
    p.set_defaults(run=compare)


def compare(args: argparse.Namespace) -> dict[str, Any]:
    from ..compare import compare

    check_writable_folder(args.out)
    result = compare(args.data, backbone=args.backbone, strategies=args.strategies, per_class=args.per_class,
                     seeds=args.seeds, test=args.test, test_fraction=args.test_fraction,
                     image_size=args.image_size, epochs=args.epochs, time_budget=args.time_budget or None,
                     out=args.out, resume=args.resume, accelerator=args.accelerator, devices=args.devices,
                     num_nodes=args.num_nodes, distributed=args.distributed,
                     progress=not args.json, task=args.task, text_column=args.text_column,
                     label_column=args.label_column)
    if not is_main():
        return {}
    if not args.json:
        for line in result.summary:
            console.print(line, highlight=False)
        console.print(f"{result.executed} run(s) now, {result.reused} resumed -> {result.report}")
    return result.to_dict()


def add_advise(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("advise", help="which backbone and strategy fit the data, and what more data would buy",
                            description="Recommend a strategy from the data's size and similarity to the source; "
                                        "with --backbones, rank the pretrained backbones by LogME on frozen "
                                        "features (cached), fit a learning curve and say what to do next. Example: "
                                        "headstart advise photos/ --backbones all --out advice.json")
    o.add(p, o.DATA, o.BACKBONE)
    p.add_argument("--backbones", help="'all' or comma-separated names to rank by LogME, each embedding every "
                                       "example once (cached; texts: all by default); the top-ranked is then "
                                       "measured stage by stage unless --backbone names one")
    o.add(p, o.IN_CHANS, o.WEIGHTS)
    p.add_argument("--sample-per-class", type=int, default=30, help="images per class to measure")
    p.add_argument("--out", help="also write the advice as JSON to this file")
    o.add(p, o.NO_CACHE, *o.TEXT_TABLE, o.SEED)
    p.set_defaults(run=advise)


def advise(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis import advise

    if args.out:
        check_writable_folder(Path(args.out).parent)
    advice = advise(args.data, backbone=args.backbone, backbones=args.backbones, in_chans=args.in_chans,
                    weights=args.weights, sample_per_class=args.sample_per_class, seed=args.seed, task=args.task,
                    text_column=args.text_column, label_column=args.label_column, cache=not args.no_cache,
                    progress=not args.json)
    result = advice.to_dict()
    if args.out:
        write_text_atomically(args.out, json.dumps(result, indent=2))
    if not args.json:
        if advice.ranking:
            print_ranking(advice.ranking)
        if advice.stages:
            print_stages(advice)
        console.print(advice.explain(), highlight=False)
    return result


def add_inspect(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("inspect", help="pictures of what each layer learned")
    p.add_argument("target", help="a saved model (model.pt or its folder) or a backbone name")
    p.add_argument("--image", help="an image for feature maps (and Grad-CAM, for a model)")
    p.add_argument("--data", help="labelled images for the per-stage probe curve")
    p.add_argument("--out", default="headstart-inspect", help="folder for the PNG files")
    p.set_defaults(run=inspect)


def inspect(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis import inspect

    written = inspect(args.target, out=check_writable_folder(args.out), image=args.image, data=args.data)
    if not args.json:
        for name, value in written.items():
            if isinstance(value, str) and value.endswith(".png"):
                console.print(f"{name:16s} {value}")
    return written
