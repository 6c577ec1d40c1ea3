"""The ``headstart`` command: thin subcommands over the public Python API, same names."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence, TextIO

from rich.console import Console
from rich.table import Table

from .atomic import check_writable_folder, write_text_atomically
from .distributed import is_main, leave
from .errors import ConfigError, HeadstartError, StorageError
from .strategies import FEATURE_KINDS, STRATEGIES

DISTRIBUTED = ("auto", "ddp", "fsdp")  # headstart.distributed.DISTRIBUTED, kept here so --help imports nothing heavy
LOGGERS = ("csv", "tensorboard", "mlflow")  # headstart.loggers.LOGGERS


def _console(stream: TextIO, **options: Any) -> Console:
    """A console that never cuts a name: at a terminal its width, piped or redirected no width limit."""
    return Console(width=None if stream.isatty() else 100_000, **options)


console = _console(sys.stdout)
err_console = _console(sys.stderr, stderr=True)


def _add_train(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("train", help="train a classifier on labelled images or texts",
                            description="Train a transfer-learned classifier. Examples: "
                                        "headstart train photos/ --strategy frozen --out model/; "
                                        "headstart train reviews.csv --backbone minilm --out model/")
    p.add_argument("data", help="images: class folders (root/<class>/<image>) or a CSV with path,label; "
                                "texts: CSV/TSV/JSONL with text,label columns or class folders of .txt")
    p.add_argument("--out", default="headstart-model", help="folder to write model.pt and metrics.json into")
    p.add_argument("--val", help="separate validation data (default: a stratified split of DATA)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="validation share when --val is not given")
    p.add_argument("--backbone", help="registry name; see `headstart backbones` (default: efficientnet_lite0 "
                                      "for images, minilm for texts)")
    p.add_argument("--weights", help="local weights file for backbones without bundled weights")
    p.add_argument("--no-pretrained", action="store_true", help="random weights (same as --strategy scratch)")
    p.add_argument("--strategy", choices=["auto", *STRATEGIES],
                   help="default for images: auto (frozen and multilayer scored on the validation split, and the "
                        "fine-tuning `headstart advise` recommends when a GPU or --epochs/--time-budget allows it; "
                        "the best kept); for texts: auto (frozen, and full where a GPU, --epochs or at most 400 "
                        "texts allow it, scored on --val or by cross-fitting over the texts; the better kept)")
    p.add_argument("--freeze", help="partial: stages to freeze, a count (4) or a fraction (0.5)")
    p.add_argument("--head", default="logreg", choices=["logreg", "linear", "mlp"], help="frozen: the head")
    p.add_argument("--epochs", type=int, help="trained strategies: epochs (default: from the data size)")
    p.add_argument("--time-budget", type=float,
                   help="trained strategies: stop training after this many seconds, keeping the best epoch")
    p.add_argument("--lr", type=float, help="peak learning rate (images: 1e-3 for the head, pretrained layers a "
                                             "tenth; text full fine-tuning: 3e-5)")
    p.add_argument("--batch-size", type=int, help="default: 32 for images, 16/64 for texts")
    p.add_argument("--image-size", type=int,
                   help="input resolution (default: the backbone's for frozen/multilayer/prototype/knn; for partial/full/"
                        "scratch twice the images' own, at least 64, at most the backbone's)")
    p.add_argument("--in-chans", type=int, default=3, help="input channels: 1 grayscale, 3 RGB, 4 RGBA")
    p.add_argument("--class-weights", action="store_true", help="weight the loss by inverse class frequency")
    p.add_argument("--strict", action="store_true", help="fail on unreadable images instead of skipping them")
    p.add_argument("--background", default="white", help="colour for transparent pixels")
    _add_placement(p)
    p.add_argument("--logger", default="csv", choices=[*LOGGERS, "none"],
                   help="trained strategies: training curves into --out (csv: logs/metrics.csv; tensorboard: "
                        "tensorboard/; mlflow: mlruns/; those two need their package installed)")
    p.add_argument("--engine", default="auto", choices=["auto", "onnx", "torch", "compile"],
                   help="embedding engine for frozen/multilayer/prototype/knn (auto: ONNX Runtime on CPU)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="embedding precision")
    p.add_argument("--tta", action="store_true", help="average embeddings with the mirrored image's")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    _add_text_options(p)
    p.add_argument("--max-length", type=int, help="texts: tokens kept per text (transformer encoders)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_train)


def _add_placement(p: argparse.ArgumentParser, *, strategy: bool = True) -> None:
    p.add_argument("--accelerator", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--devices", type=int, default=1,
                   help="processes per machine, one per GPU: data-parallel training (--batch-size per process) and "
                        "embedding split over them; started here, or by torchrun/srun (see the README)")
    p.add_argument("--num-nodes", type=int, default=1, help="machines, each started by torchrun or srun")
    if strategy:
        p.add_argument("--distributed", default="auto", choices=DISTRIBUTED,
                       help="Lightning strategy with more than one process (auto: ddp; fsdp shards the model)")


def _add_text_options(p: argparse.ArgumentParser, *, encoding: bool = True) -> None:
    p.add_argument("--task", choices=("auto", "image", "text"), default="auto",
                   help="what DATA holds (default: detected; a table with a text column, or folders of .txt, is text)")
    p.add_argument("--text-column", default="text", help="texts: the column holding the text")
    p.add_argument("--label-column", default="label", help="the column holding the class name")
    if encoding:
        p.add_argument("--encoding", default="utf-8", help="texts: the files' character encoding")


def _is_text(args: argparse.Namespace) -> bool:
    from .data.text import is_text_data

    return args.task == "text" or (args.task == "auto" and is_text_data(args.data, text_column=args.text_column))


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


def _train(args: argparse.Namespace) -> dict[str, Any]:
    from .analysis.advise import advice_paragraph
    from .classifier import ImageClassifier
    from .text.classifier import TextClassifier

    out = _out_folder(args.out)
    text = _is_text(args)
    strategy = "scratch" if args.no_pretrained else args.strategy or "auto"
    if text:
        clf = TextClassifier(
            backbone=args.backbone or "minilm", strategy=strategy, head=args.head, epochs=args.epochs, lr=args.lr,
            batch_size=args.batch_size, max_length=args.max_length, text_column=args.text_column,
            label_column=args.label_column, encoding=args.encoding, val_fraction=args.val_fraction,
            use_class_weights=args.class_weights, seed=args.seed, cache=not args.no_cache, progress=not args.json,
            accelerator=args.accelerator, devices=args.devices, num_nodes=args.num_nodes)
        unit = "texts"
    else:
        clf = ImageClassifier(
            backbone=args.backbone or "efficientnet_lite0", strategy=strategy, freeze=args.freeze, head=args.head,
            epochs=args.epochs, time_budget=args.time_budget, lr=1e-3 if args.lr is None else args.lr,
            batch_size=32 if args.batch_size is None else args.batch_size,
            image_size=args.image_size, in_chans=args.in_chans, weights=args.weights,
            val_fraction=args.val_fraction, use_class_weights=args.class_weights, strict=args.strict,
            background=args.background, accelerator=args.accelerator, devices=args.devices,
            num_nodes=args.num_nodes, distributed=args.distributed,
            logger=None if args.logger == "none" else args.logger, log_dir=out, engine=args.engine,
            precision=args.precision, tta=args.tta, cache=not args.no_cache, seed=args.seed,
            progress=not args.json)
        unit = "images"
    clf.fit(args.data, val=args.val)
    strategy_name = clf.strategy_ if isinstance(clf.strategy_, str) else clf.strategy_.name
    if not is_main():  # in a distributed run rank 0 writes and reports
        return {}
    path = _save_or_rescue(clf, out)
    skipped = getattr(clf, "skipped_", [])
    result = {"model": str(path), "classes": clf.classes_, "strategy": strategy_name, "head": clf.head_,
              "backbone": clf.backbone if isinstance(clf.backbone, str) else clf.backbone.name, **clf.training_,
              "skipped": [{"file": f, "reason": r} for f, r in skipped],
              "warnings": getattr(clf, "data_warnings_", []),
              **({"advice": clf.advice_} if getattr(clf, "advice_", None) else {})}
    write_text_atomically(out / "metrics.json", json.dumps(result, indent=2, default=str))
    if not args.json:
        _print_skipped(skipped)
        _print_warnings(result["warnings"])
        if unit == "texts":
            err_console.print(clf.report_.summary())
            _print_text_notes(clf.training_)
        if "advice" in result:
            console.print("auto: " + advice_paragraph(result["advice"]["reasons"]), highlight=False)
            console.print(f"auto scored: {_candidate_scores(result['advice']['candidates'])} -> kept "
                          f"{result['advice']['chosen']}", highlight=False)
        console.print(f"[bold]{strategy_name}[/] {result['backbone']}: validation accuracy "
                      f"[bold]{clf.val_accuracy_:.1%}[/] on {result.get('val_' + unit, '?')} {unit}, "
                      f"trained in {result['seconds']:.1f} s -> {path}")
    return result


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("evaluate", help="score a model on labelled images")
    p.add_argument("model", help="model.pt, or the --out folder that holds it")
    p.add_argument("data", help="labelled images (class folders or a CSV) or texts, like the training data")
    p.add_argument("--strict", action="store_true", help="fail on unreadable images instead of skipping them")
    p.set_defaults(run=_evaluate)


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from .bundle import load
    from .text.classifier import TextClassifier

    clf = load(args.model)
    clf.strict, clf.progress = args.strict, False
    report = clf.evaluate(args.data)
    report.setdefault("skipped", [])
    report.setdefault("warnings", [])
    text = isinstance(clf, TextClassifier)
    if not args.json:
        table = Table(title=f"accuracy {report['accuracy']:.1%}  macro-F1 {report['macro_f1']:.3f}  "
                            f"({report['n']} {'texts' if text else 'images'})")
        for column in ("class", "precision", "recall", "F1", "support"):
            table.add_column(column, justify="left" if column == "class" else "right")
        for name, row in report["per_class"].items():
            table.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}",
                          str(row["support"]))
        console.print(table)
        matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
        matrix.add_column("")
        for index in range(len(report["classes"])):
            matrix.add_column(str(index), justify="right")
        for index, (name, row) in enumerate(zip(report["classes"], report["confusion_matrix"])):
            matrix.add_row(f"{index} {name}", *map(str, row))
        console.print(matrix)
        _print_skipped([(s["file"], s["reason"]) for s in report["skipped"]])
        _print_warnings(report["warnings"])
        if text:
            err_console.print(report["data"]["summary"])
            _print_text_notes(report)
    return report


def _add_predict(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("predict", help="classify images")
    p.add_argument("model", help="model.pt, or the --out folder that holds it")
    p.add_argument("images", nargs="+", help="image files or folders; for a text model, texts or .txt files")
    p.add_argument("--top-k", type=int, default=3)
    p.set_defaults(run=_predict)


def _predict(args: argparse.Namespace) -> list[dict[str, Any]]:
    from .bundle import load
    from .classifier import list_images
    from .data.dataset import ImageSet, check_images
    from .text.classifier import TextClassifier

    clf = load(args.model)
    if isinstance(clf, TextClassifier):
        return _predict_texts(clf, args)
    files = list_images(args.images)
    readable = check_images(ImageSet(files, [0] * len(files), clf.classes_, "predict"),
                            in_chans=clf.in_chans) if files else None
    ranked = clf.predict_top_k(readable.paths, k=args.top_k)
    rows = [{"image": str(path), "top_k": [{"class": c, "probability": p} for c, p in classes]}
            for path, classes in zip(readable.paths, ranked)]
    if not args.json:
        table = Table()
        table.add_column("image", overflow="fold")  # a narrow terminal wraps a path, never cuts it
        table.add_column("prediction")
        table.add_column(f"top {args.top_k}")
        for row in rows:
            top = row["top_k"]
            table.add_row(row["image"], f"{top[0]['class']} ({top[0]['probability']:.1%})",
                          ", ".join(f"{t['class']} {t['probability']:.1%}" for t in top[1:]))
        console.print(table)
        _print_skipped(readable.skipped)
    return rows


def _predict_texts(clf: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each argument is a text, or a .txt file read whole as one text."""
    texts = [Path(item).read_text(encoding="utf-8", errors="replace") if item.endswith(".txt") and Path(item).is_file()
             else item for item in args.images]
    ranked = clf.predict_top_k(texts, k=args.top_k)
    rows = [{"text": text[:200], "top_k": [{"class": c, "probability": p} for c, p in classes]}
            for text, classes in zip(texts, ranked)]
    if not args.json:
        table = Table()
        for column in ("text", "prediction", f"top {args.top_k}"):
            table.add_column(column)
        for row in rows:
            top = row["top_k"]
            table.add_row(row["text"][:60], f"{top[0]['class']} ({top[0]['probability']:.1%})",
                          ", ".join(f"{t['class']} {t['probability']:.1%}" for t in top[1:]))
        console.print(table)
    return rows


def _add_backbones(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("backbones", help="list the backbones and where their weights come from")
    p.set_defaults(run=_backbones)


def _backbones(args: argparse.Namespace) -> list[dict[str, str]]:
    from .backbones import list_backbones
    from .text.encoders import list_text_encoders

    rows = list_backbones() + [
        {"name": row["name"], "source": row["kind"], "input": "text",
         "weights": "bundled (offline)" if row["offline"] else row["weights"],
         "description": f"{row['dim']}-dim text embeddings" if row.get("dim") else "text embeddings"}
        for row in list_text_encoders()]
    if not args.json:
        table = Table(title="backbones (any timm or torchvision architecture, word-vector file or "
                            "sentence-transformers folder also works by name)")
        for column in ("name", "source", "input", "weights", "description"):
            table.add_column(column, overflow="fold" if column == "name" else "ellipsis")
        for row in rows:
            table.add_row(*(row[c] for c in ("name", "source", "input", "weights", "description")))
        console.print(table)
    return rows


def _add_advise(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("advise", help="which backbone and strategy fit the data, and what more data would buy",
                            description="Recommend a strategy from the data's size and similarity to the source; "
                                        "with --backbones, rank the pretrained backbones by LogME on frozen "
                                        "features (cached), fit a learning curve and say what to do next. Example: "
                                        "headstart advise photos/ --backbones all --out advice.json")
    p.add_argument("data", help="labelled images (class folders or a CSV) or texts (CSV/TSV/JSONL, or class folders "
                                "of .txt)")
    p.add_argument("--backbone", help="the backbone to measure stage by stage (default: efficientnet_lite0, or the "
                                      "top-ranked with --backbones)")
    p.add_argument("--backbones", help="'all' or comma-separated names to rank by LogME, each embedding every "
                                       "example once (cached; texts: all by default)")
    p.add_argument("--in-chans", type=int, default=3)
    p.add_argument("--weights", help="local weights file for --backbone when it has no bundled weights")
    p.add_argument("--sample-per-class", type=int, default=30, help="images per class to measure")
    p.add_argument("--out", help="also write the advice as JSON to this file")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    _add_text_options(p, encoding=False)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=_advise)


def _advise(args: argparse.Namespace) -> dict[str, Any]:
    from .analysis import advise

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
            _print_ranking(advice.ranking)
        if advice.stages:
            table = Table(title=f"{advice.backbone}: per-stage evidence")
            for column in ("stage", "name", "BatchNorm shift", "linear probe"):
                table.add_column(column, justify="right")
            for index, stage in enumerate(advice.stages, 1):
                shift = "-" if stage.bn_shift is None else f"{stage.bn_shift:.2f}"
                probe = "-" if stage.probe_accuracy is None else f"{stage.probe_accuracy:.0%}"
                table.add_row(str(index), stage.stage, shift, probe)
            console.print(table)
        console.print(advice.explain(), highlight=False)
    return result


def _print_ranking(ranking: Any) -> None:
    unit = "image" if ranking.task == "image" else "text"
    table = Table(title=f"backbones ranked by LogME on frozen features ({ranking.num_classes} classes, "
                        f"{ranking.per_class:g} {unit}s per class)")
    for column in ("rank", "backbone", "LogME", "linear probe (CV)", f"ms per {unit}", "embedded now",
                   "at 2x data", "at 10x data"):
        table.add_column(column, justify="left" if column == "backbone" else "right")
    for rank, score in enumerate(ranking.ranked, 1):
        twice, tenfold = score.curve.at(2), score.curve.at(10)
        table.add_row(str(rank), score.name, f"{score.logme:.3f}",
                      f"{score.probe_accuracy:.1%} ± {score.probe_std:.1%}", f"{1000 * score.seconds_per_item:.1f}",
                      str(score.embedded), f"{twice.accuracy:.1%}", f"{tenfold.accuracy:.1%}")
    console.print(table)
    for score in ranking.scores:
        if score.skipped:
            console.print(f"skipped {score.name}: {score.skipped}", highlight=False)


def _add_inspect(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("inspect", help="pictures of what each layer learned")
    p.add_argument("target", help="a saved model (model.pt or its folder) or a backbone name")
    p.add_argument("--image", help="an image for feature maps (and Grad-CAM, for a model)")
    p.add_argument("--data", help="labelled images for the per-stage probe curve")
    p.add_argument("--out", default="headstart-inspect", help="folder for the PNG files")
    p.set_defaults(run=_inspect)


def _inspect(args: argparse.Namespace) -> dict[str, Any]:
    from .analysis import inspect

    written = inspect(args.target, out=check_writable_folder(args.out), image=args.image, data=args.data)
    if not args.json:
        for name, value in written.items():
            if isinstance(value, str) and value.endswith(".png"):
                console.print(f"{name:16s} {value}")
    return written


def _add_cache(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("cache", help="show or clear the embedding cache")
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--dir", help="cache folder (default: $HEADSTART_CACHE or ~/.cache/headstart)")
    p.set_defaults(run=_cache)


def _cache(args: argparse.Namespace) -> dict[str, Any]:
    from .features import EmbeddingCache

    cache = EmbeddingCache(args.dir)
    if args.action == "clear":
        result = {"root": str(cache.root), "freed_bytes": cache.clear()}
        if not args.json:
            console.print(f"cleared {cache.root} ({result['freed_bytes'] / 1e6:.1f} MB freed)")
        return result
    info = cache.info()
    if not args.json:
        table = Table(title=f"embedding cache {info['root']}: {info['entries']} embeddings, "
                            f"{info['graphs']} exported graphs, {info['bytes'] / 1e6:.1f} MB")
        for column in ("key", "backbone", "stage", "tta", "precision", "entries", "MB"):
            table.add_column(column)
        for row in info["extractors"]:
            meta = row["extractor"]
            table.add_row(row["key"], str(meta.get("backbone", meta.get("text_encoder", "?"))),
                          str(meta.get("stage", "?")),
                          str(meta.get("tta", "?")), str(meta.get("precision", "?")), str(row["entries"]),
                          f"{row['bytes'] / 1e6:.1f}")
        console.print(table)
    return info


def _add_embed(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("embed", help="fill the embedding cache for a large image set, split over processes",
                            description="Embed every image the cache lacks, as `train` with the same options would. "
                                        "Example: torchrun --nproc-per-node 8 -m headstart.cli embed photos/ "
                                        "--devices 8 (or: headstart embed photos/ --devices 2)")
    p.add_argument("data", help="labelled images: class folders or a CSV with path,label")
    p.add_argument("--backbone", default="efficientnet_lite0")
    p.add_argument("--features", default="pooled", choices=FEATURE_KINDS,
                   help="pooled: for frozen/prototype/knn; blocks: for multilayer and auto")
    p.add_argument("--weights", help="local weights file for backbones without bundled weights")
    p.add_argument("--in-chans", type=int, default=3)
    p.add_argument("--engine", default="auto", choices=["auto", "onnx", "torch", "compile"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--tta", action="store_true", help="as train's --tta (part of the cache key)")
    p.add_argument("--background", default="white")
    p.add_argument("--batch-size", type=int, default=64)
    _add_placement(p, strategy=False)
    p.set_defaults(run=_embed)


def _embed(args: argparse.Namespace) -> dict[str, Any]:
    from .features.prefill import embed

    result = embed(args.data, backbone=args.backbone, features=args.features, in_chans=args.in_chans,
                   weights=args.weights, engine=args.engine, precision=args.precision, tta=args.tta,
                   background=args.background, batch_size=args.batch_size, accelerator=args.accelerator,
                   devices=args.devices, num_nodes=args.num_nodes, progress=not args.json)
    if not is_main():
        return {}
    if not args.json:
        _print_skipped([(s["file"], s["reason"]) for s in result["skipped"]])
        console.print(f"{result['images']} images: {result['cached_before']} cached before, {result['embedded']} "
                      f"embedded now ({' + '.join(map(str, result['embedded_per_rank']))} by rank) -> "
                      f"{result['cache']}", highlight=False)
    return result


def _add_compare(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("compare", help="scratch vs. the strategies across training sizes, with a report",
                            description="Train every strategy on the same nested subsets and score them on one "
                                        "test set. Example: headstart compare photos/ --per-class 5,10,all "
                                        "--out compare/")
    p.add_argument("data", help="folder of class subfolders (root/<class>/<image>) or a CSV with path,label; "
                                "or labelled texts (CSV/TSV/JSONL with a text column, or class folders of .txt)")
    p.add_argument("--out", default="headstart-compare", help="folder for results.json/.csv, plots, report.html")
    p.add_argument("--backbone", help="registry name; see `headstart backbones` (default efficientnet_lite0; "
                                      "minilm for text)")
    p.add_argument("--strategies", help="comma-separated (default scratch,frozen,multilayer,partial,full,prototype,knn; "
                                        "scratch,frozen,prototype,knn,full,auto for text); images also take auto, "
                                        "scored beside the strategies it chooses from")
    p.add_argument("--per-class", help="training examples per class, comma-separated (default 5,10,25,50,100,all; "
                                       "4,8,16,64,all for text)")
    p.add_argument("--seeds", type=int, default=3, help="subsets drawn (and runs seeded) per size")
    test = p.add_mutually_exclusive_group()
    test.add_argument("--test", help="separate labelled test images (default: a split of DATA)")
    test.add_argument("--test-fraction", type=float, default=0.3, help="test share of DATA without --test")
    p.add_argument("--image-size", type=int,
                   help="input resolution for every strategy (default: the backbone's for embedding strategies, "
                        "twice the images' own, at least 64, for trained ones)")
    p.add_argument("--epochs", type=int, help="trained strategies: epochs (default: from the data size)")
    p.add_argument("--time-budget", type=float, default=45.0,
                   help="trained strategies: seconds of training per run, best epoch kept (default 45; 0: no limit)")
    p.add_argument("--resume", action="store_true", help="continue the results in --out, running what is missing")
    _add_placement(p)
    _add_text_options(p, encoding=False)
    p.set_defaults(run=_compare)


def _compare(args: argparse.Namespace) -> dict[str, Any]:
    from .compare import compare

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


def _print_text_notes(notes: dict[str, Any]) -> None:
    """Texts the encoder cut or could not read a word of (counted in metrics.json or the evaluation report)."""
    if notes.get("truncated_texts"):
        err_console.print(f"[yellow]note:[/] {notes['truncated_texts']} text(s) longer than the encoder reads were "
                          "cut to their first tokens (--max-length sets how many, up to the encoder's limit)")
    if notes.get("texts_without_known_words"):
        err_console.print(f"[yellow]note:[/] {notes['texts_without_known_words']} text(s) hold no word the word "
                          "vectors know and were embedded as zeros")


def _print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _add_export(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("export", help="write a model as ONNX or TorchScript, preprocessing inside",
                            description="Export a trained model to run without headstart: one graph from uint8 "
                                        "pixels (N, H, W, C) to class probabilities, model.json beside it. Example: "
                                        "headstart export model/ --format onnx --out exported/")
    p.add_argument("model", help="model.pt, or the --out folder that holds it")
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"])
    p.add_argument("--quantize", choices=["int8"], help="ONNX Runtime int8 quantisation (images: calibrated on "
                                                       "--calibration)")
    p.add_argument("--calibration", help="images to calibrate int8 activations on (a folder or CSV; the training "
                                         "data will do)")
    p.add_argument("--out", default="headstart-export", help="folder for model.onnx / model.ts and model.json")
    p.set_defaults(run=_export)


def _export(args: argparse.Namespace) -> dict[str, Any]:
    from .bundle import load

    result = load(args.model).export(args.out, format=args.format, quantize=args.quantize,
                                     calibration=args.calibration)
    if not args.json:
        console.print(f"{result['task']} model, {len(result['classes'])} classes -> {result['path']} "
                      f"({result['runtime']}{', ' + result['quantization'] if result['quantization'] else ''}); "
                      f"classes and input rule in {result['card']}")
    return result


def _add_serve(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="an HTTP API and web page for a model",
                            description="Serve a model: POST /predict (images or {\"texts\": [...]}), GET /model, "
                                        "GET /health, and a web page at /. Example: headstart serve model/ --port 8000")
    p.add_argument("model", help="model.pt, or the --out folder that holds it")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body accepted")
    p.add_argument("--max-batch", type=int, default=32,
                   help="most inputs of requests arriving together run as one batch (1: no batching)")
    p.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> dict[str, Any]:
    from .serve import serve

    serve(args.model, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb, max_batch=args.max_batch,
          announce=not args.json)
    return {"model": args.model, "host": args.host, "port": args.port}


def _candidate_scores(candidates: Sequence[dict[str, Any]]) -> str:
    """``frozen 80.0% on the validation split, cross-validated log loss 0.520 (3.1 s); ...`` (texts name what they
    were scored on)."""
    return "; ".join(f"{c['strategy']} {c['val_accuracy']:.1%} on {c.get('scored_on', 'the validation split')}"
                     + (f", cross-validated log loss {c['cv_log_loss']:.3f}" if c.get("cv_log_loss") is not None
                        else "") + f" ({c['seconds']:.1f} s)" for c in candidates)


def _print_skipped(skipped: Sequence[tuple[str, str]]) -> None:
    if skipped:
        err_console.print(f"[yellow]skipped {len(skipped)} file(s):[/]")
        for file, reason in skipped[:10]:
            err_console.print(f"  {file}: {reason}")
        if len(skipped) > 10:
            err_console.print(f"  ... and {len(skipped) - 10} more (see --json)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="headstart", description="Transfer learning in one command.")
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    for add in (_add_train, _add_evaluate, _add_predict, _add_export, _add_serve, _add_compare, _add_advise,
                _add_inspect, _add_backbones, _add_cache, _add_embed):
        add(commands)
    return parser


def _launch(args: argparse.Namespace, argv: Sequence[str]) -> bool:
    """Start this command as ``--devices`` ranks when asked for more than one and no launcher started them (the
    ranks run it and report; this process waits). Returns whether it did."""
    from .distributed import _launcher_world, run_ranks

    devices, nodes = getattr(args, "devices", 1), getattr(args, "num_nodes", 1)
    if (devices * nodes > 1 or _launcher_world() > 1) and args.command in ("train", "compare") and _is_text(args) \
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


if __name__ == "__main__":
    sys.exit(main())
