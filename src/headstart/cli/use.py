"""Commands that use a saved model: ``evaluate``, ``predict``, ``export`` and ``serve``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from . import options as o
from .output import console, err_console, print_evaluation, print_predictions, print_skipped, print_text_notes, \
    print_warnings


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("evaluate", help="score a model on labelled images or texts")
    o.add(p, o.MODEL, o.DATA, o.STRICT)
    p.set_defaults(run=evaluate)


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    from ..bundle import load

    clf = load(args.model)
    clf.strict, clf.progress = args.strict, False
    report = clf.evaluate(args.data)
    report.setdefault("skipped", [])
    report.setdefault("warnings", [])
    if not args.json:
        print_evaluation(report, clf.task)
        print_skipped([(s["file"], s["reason"]) for s in report["skipped"]])
        print_warnings(report["warnings"])
        if clf.task == "text":
            err_console.print(report["data"]["summary"])
            print_text_notes(report)
    return report


def add_predict(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("predict", help="classify images or texts")
    o.add(p, o.MODEL)
    p.add_argument("images", nargs="+", help="image files or folders; for a text model, texts or .txt files")
    p.add_argument("--top-k", type=int, default=3, help="classes listed per input, most probable first")
    p.set_defaults(run=predict)


def predict(args: argparse.Namespace) -> list[dict[str, Any]]:
    from ..bundle import load

    clf = load(args.model)
    if clf.task == "text":
        texts = [Path(item).read_text(encoding="utf-8", errors="replace")
                 if item.endswith(".txt") and Path(item).is_file() else item for item in args.images]
        inputs, skipped, key, shown = texts, [], "text", [text[:200] for text in texts]
    else:
        from ..classifier import list_images
        from ..data.dataset import ImageSet, check_images

        files = list_images(args.images)
        readable = check_images(ImageSet(files, [0] * len(files), clf.classes_, "predict"), in_chans=clf.in_chans)
        inputs, skipped, key, shown = readable.paths, readable.skipped, "image", list(map(str, readable.paths))
    ranked = clf.predict_top_k(inputs, k=args.top_k)
    rows = [{key: item, "top_k": [{"class": c, "probability": p} for c, p in classes]}
            for item, classes in zip(shown, ranked)]
    if not args.json:
        print_predictions(rows, clf.task, args.top_k)
        print_skipped(skipped)
    return rows


def add_export(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("export", help="write a model as ONNX or TorchScript, preprocessing inside",
                            description="Export a trained model to run without headstart: one graph from uint8 "
                                        "pixels (N, H, W, C) to class probabilities, model.json beside it. Example: "
                                        "headstart export model/ --format onnx --out exported/")
    o.add(p, o.MODEL)
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"])
    p.add_argument("--quantize", choices=["int8"], help="ONNX Runtime int8 quantisation (images: calibrated on "
                                                       "--calibration)")
    p.add_argument("--calibration", help="images to calibrate int8 activations on (a folder or CSV; the training "
                                         "data will do)")
    p.add_argument("--out", default="headstart-export", help="folder for model.onnx / model.ts and model.json")
    p.set_defaults(run=export)


def export(args: argparse.Namespace) -> dict[str, Any]:
    from ..bundle import load

    result = load(args.model).export(args.out, format=args.format, quantize=args.quantize,
                                     calibration=args.calibration)
    if not args.json:
        console.print(f"{result['task']} model, {len(result['classes'])} classes -> {result['path']} "
                      f"({result['runtime']}{', ' + result['quantization'] if result['quantization'] else ''}); "
                      f"classes and input rule in {result['card']}")
    return result


def add_serve(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="an HTTP API and web page for a model",
                            description="Serve a model: POST /predict (images or {\"texts\": [...]}), GET /model, "
                                        "GET /health, and a web page at /. Example: headstart serve model/ --port 8000")
    o.add(p, o.MODEL)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body accepted")
    p.add_argument("--max-batch", type=int, default=32,
                   help="most inputs of requests arriving together run as one batch (1: no batching)")
    p.set_defaults(run=serve)


def serve(args: argparse.Namespace) -> dict[str, Any]:
    from ..serve import serve

    serve(args.model, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb, max_batch=args.max_batch,
          announce=not args.json)
    return {"model": args.model, "host": args.host, "port": args.port}
