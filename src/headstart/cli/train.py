"""Commands that build: ``train`` (a classifier) and ``embed`` (the embedding cache, ahead of training)."""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from ..atomic import check_writable_folder, write_text_atomically
from ..distributed import is_main
from ..errors import HeadstartError, StorageError
from ..loggers import LOGGERS
from ..strategies import AUTO, FEATURE_KINDS, STRATEGIES
from . import options as o
from .output import (candidate_scores, console, err_console, print_skipped, print_text_notes, print_warnings,
                     unit)


def add_train(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train", help="train a classifier on labelled images or texts",
                            description="Train a transfer-learned classifier. Examples: "
                                        "headstart train photos/ --strategy frozen --out model/; "
                                        "headstart train reviews.csv --backbone minilm --out model/")
    o.add(p, o.DATA)
    p.add_argument("--out", default="headstart-model", help="folder to write model.pt and metrics.json into")
    p.add_argument("--val", help="separate validation data (default: a stratified split of DATA)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation share when --val is not given")
    o.add(p, o.BACKBONE, o.WEIGHTS)
    p.add_argument("--no-pretrained", action="store_true", help="random weights (same as --strategy scratch)")
    p.add_argument("--strategy", choices=[AUTO, *STRATEGIES],
                   help="default for images: auto (frozen and multilayer scored on the validation split, and the "
                        "fine-tuning `headstart advise` recommends when a GPU or --epochs/--time-budget allows it; "
                        "the best kept); for texts: auto (frozen, and full where a GPU, --epochs or at most 400 "
                        "texts allow it, scored on --val or by cross-fitting over the texts; the better kept)")
    p.add_argument("--freeze", help="partial: stages to freeze, a count (4) or a fraction (0.5)")
    p.add_argument("--head", default="logreg", choices=["logreg", "linear", "mlp"], help="frozen: the head")
    o.add(p, o.EPOCHS)
    p.add_argument("--time-budget", type=float,
                   help="trained strategies: stop training after this many seconds, keeping the best epoch")
    p.add_argument("--lr", type=float, help="peak learning rate (images: 1e-3 for the head, pretrained layers a "
                                             "tenth; text full fine-tuning: 3e-5)")
    p.add_argument("--batch-size", type=int, help="default: 32 for images, 16/64 for texts")
    o.add(p, o.IMAGE_SIZE, o.IN_CHANS)
    p.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    o.add(p, o.STRICT, o.BACKGROUND, *o.PLACEMENT, o.DISTRIBUTED_STRATEGY)
    p.add_argument("--logger", default="csv", choices=[*LOGGERS, "none"],
                   help="trained strategies: training curves into --out (csv: logs/metrics.csv; tensorboard: "
                        "tensorboard/; mlflow: mlruns/; those two need their package installed)")
    o.add(p, o.ENGINE, o.PRECISION, o.TTA, o.NO_CACHE, *o.TEXT_TABLE)
    p.add_argument("--encoding", default="utf-8", help="texts: the files' character encoding")
    p.add_argument("--max-length", type=int, help="texts: tokens kept per text (transformer encoders)")
    o.add(p, o.SEED)
    p.set_defaults(run=train)


def train(args: argparse.Namespace) -> dict[str, Any]:
    from ..analysis.advise import advice_paragraph
    from ..data.text import data_task

    out = _out_folder(args.out)
    clf = _classifier(args, data_task(args.data, args.task, text_column=args.text_column), out)
    clf.fit(args.data, val=args.val)
    if not is_main():  # in a distributed run rank 0 writes and reports
        return {}
    path = _save_or_rescue(clf, out)
    strategy, skipped = _name(clf.strategy_), getattr(clf, "skipped_", [])  # texts skip no file
    result = {"model": str(path), "classes": clf.classes_, "strategy": strategy, "head": clf.head_,
              "backbone": _name(clf.backbone), **clf.training_,
              "skipped": [{"file": f, "reason": r} for f, r in skipped], "warnings": clf.data_warnings_,
              **({"advice": clf.advice_} if clf.advice_ else {})}
    write_text_atomically(out / "metrics.json", json.dumps(result, indent=2, default=str))
    if not args.json:
        print_skipped(skipped)
        print_warnings(result["warnings"])
        if clf.task == "text":
            err_console.print(clf.report_.summary())
            print_text_notes(clf.training_)
        if "advice" in result:
            console.print("auto: " + advice_paragraph(result["advice"]["reasons"]), highlight=False)
            console.print(f"auto scored: {candidate_scores(result['advice']['candidates'])} -> kept "
                          f"{result['advice']['chosen']}", highlight=False)
        if "cached_prefix" in result:
            prefix = result["cached_prefix"]
            console.print(f"partial: the frozen stages (through {prefix['cut']}) ran once on {prefix['views']} "
                          f"view(s) of each image ({prefix['seconds']:.1f} s, kept in the embedding cache); then "
                          f"{result['epochs_run']} epoch{'s' * (result['epochs_run'] != 1)} trained only the later "
                          f"stages and the head", highlight=False)
        items = unit(clf.task)
        console.print(f"[bold]{strategy}[/] {result['backbone']}: validation accuracy "
                      f"[bold]{clf.val_accuracy_:.1%}[/] on {result.get('val_' + items, '?')} {items}"
                      f"{' (then the head learned from them too)' if result.get('refit_on_validation') else ''}, "
                      f"trained in {result['seconds']:.1f} s -> {path}")
    return result


def _classifier(args: argparse.Namespace, task: str, out: Path) -> Any:
    """The unfitted classifier ``train``'s options describe, for images or texts (``task``)."""
    shared = dict(strategy="scratch" if args.no_pretrained else args.strategy or "auto", head=args.head,
                  epochs=args.epochs, val_fraction=args.val_fraction, use_class_weights=args.class_weights,
                  seed=args.seed, cache=not args.no_cache, progress=not args.json, accelerator=args.accelerator,
                  devices=args.devices, num_nodes=args.num_nodes)
    if task == "text":
        from ..text.classifier import TextClassifier

        return TextClassifier(**o.given(backbone=args.backbone), **shared, lr=args.lr, batch_size=args.batch_size,
                              max_length=args.max_length, text_column=args.text_column,
                              label_column=args.label_column, encoding=args.encoding)
    from ..classifier import ImageClassifier

    return ImageClassifier(**o.given(backbone=args.backbone, lr=args.lr, batch_size=args.batch_size), **shared,
                           freeze=args.freeze, time_budget=args.time_budget, image_size=args.image_size,
                           in_chans=args.in_chans, weights=args.weights, strict=args.strict,
                           background=args.background, distributed=args.distributed,
                           logger=None if args.logger == "none" else args.logger, log_dir=out, engine=args.engine,
                           precision=args.precision, tta=args.tta)


def _name(value: Any) -> str:
    """A registry name, whether given as one or as the object it names (a backbone, a strategy)."""
    return value if isinstance(value, str) else value.name


def _out_folder(out: str) -> Path:
    """``--out`` checked before any work: a writable folder, never a ``.pt`` file name (a model is always
    ``FOLDER/model.pt`` beside ``FOLDER/metrics.json``)."""
    folder = Path(out)
    if folder.suffix == ".pt" and not folder.is_dir():
        raise StorageError("--out names the folder to write model.pt and metrics.json into, not the model file.",
                           path=folder, fix=f"Pass --out {folder.with_suffix('')}/ (the model is then "
                                            f"{folder.with_suffix('') / 'model.pt'}).")
    return check_writable_folder(folder)


def _save_or_rescue(clf: Any, out: Path) -> Path:
    """Save the fitted model into ``out``; if that fails, save it in the temporary folder and say where."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        return clf.save(out)
    except Exception as error:  # whatever stopped the save, the trained model is not to be lost
        problem = error.problem if isinstance(error, HeadstartError) else f"{type(error).__name__}: {error}"
        rescue = Path(tempfile.gettempdir()) / f"headstart-rescued-{time.strftime('%Y%m%d-%H%M%S')}.pt"
        try:
            clf.save(rescue)
        except Exception:
            raise StorageError(f"the trained model could not be saved ({problem}), nor kept in {rescue.parent}.",
                               path=out, fix="Free some space or pass another --out, then train again.") from error
        raise StorageError(f"the trained model could not be saved here ({problem}).", path=out,
                           fix=f"It was kept in {rescue}: move it where you want it (predict, evaluate and "
                               "inspect take that file as it is).") from error


def add_embed(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("embed", help="fill the embedding cache for a large image set, split over processes",
                            description="Embed every image the cache lacks, as `train` with the same options would. "
                                        "Example: torchrun --nproc-per-node 8 -m headstart.cli embed photos/ "
                                        "--devices 8 (or: headstart embed photos/ --devices 2)")
    p.add_argument("data", help="labelled images: class folders or a CSV with path,label")
    o.add(p, o.BACKBONE)
    p.add_argument("--features", default="pooled", choices=FEATURE_KINDS,
                   help="pooled: for frozen/prototype/knn; blocks: for multilayer and auto")
    o.add(p, o.WEIGHTS, o.IN_CHANS, o.ENGINE, o.PRECISION, o.TTA, o.BACKGROUND)
    p.add_argument("--batch-size", type=int, default=64, help="images per embedding batch")
    o.add(p, *o.PLACEMENT)
    p.set_defaults(run=embed)


def embed(args: argparse.Namespace) -> dict[str, Any]:
    from ..features.prefill import embed

    result = embed(args.data, **o.given(backbone=args.backbone), features=args.features, in_chans=args.in_chans,
                   weights=args.weights, engine=args.engine, precision=args.precision, tta=args.tta,
                   background=args.background, batch_size=args.batch_size, accelerator=args.accelerator,
                   devices=args.devices, num_nodes=args.num_nodes, progress=not args.json)
    if not is_main():
        return {}
    if not args.json:
        print_skipped([(s["file"], s["reason"]) for s in result["skipped"]])
        console.print(f"{result['images']} images: {result['cached_before']} cached before, {result['embedded']} "
                      f"embedded now ({' + '.join(map(str, result['embedded_per_rank']))} by rank) -> "
                      f"{result['cache']}", highlight=False)
    return result
