"""``headstart export``: a trained model as one ONNX or TorchScript file that runs without headstart.

Image models become one graph from uint8 pixels ``(N, H, W, C)`` at the model's input size to class
probabilities — conversion, normalisation, the network and softmax inside; MiniLM text models a graph from token
ids, the tokenizer beside it. ``model.json`` beside the graph holds the classes, the resize/crop rule and the
input's names (the ONNX file carries the classes in its metadata too).
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .. import __version__
from ..atomic import write_atomically, write_text_atomically
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..classifier import ImageClassifier
    from ..text.classifier import TextClassifier

FORMATS = {"onnx": "model.onnx", "torchscript": "model.ts"}
QUANTIZATIONS = ("int8",)
EXPORT_FORMAT, EXPORT_FORMAT_VERSION = "headstart-export", 1
CALIBRATION_IMAGES = 128


def export_model(clf: "ImageClassifier | TextClassifier", out: str | Path, *, format: str = "onnx",
                 quantize: str | None = None,
                 calibration: str | Path | Sequence[str | Path] | None = None) -> dict[str, Any]:
    """Write ``clf`` to the folder ``out`` as ``model.onnx`` or ``model.ts`` plus ``model.json``.

    Args:
        clf: a fitted classifier.
        out: folder to write into (created).
        format: ``onnx`` or ``torchscript``.
        quantize: ``int8`` (ONNX only): image models statically, calibrated on ``calibration``; MiniLM text
            models dynamically (weights int8).
        calibration: images to calibrate int8 activations on (a folder, CSV or list of files; up to 128 used).

    Returns:
        The contents of ``model.json``, with ``path`` (the graph) and ``card`` (its location) added.
    """
    if not hasattr(clf, "classes_"):
        raise ConfigError("this classifier is not fitted yet.", fix="Call fit(data) or headstart.load(path).")
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}.", fix=f"Choose one of {', '.join(FORMATS)}.")
    if quantize is not None and quantize not in QUANTIZATIONS:
        raise ConfigError(f"unknown quantisation {quantize!r}.", fix="Pass --quantize int8, or leave it out.")
    if quantize and format != "onnx":
        raise ConfigError("int8 quantisation is done by ONNX Runtime, so it exports ONNX only.",
                          fix="Pass --format onnx with --quantize int8.")
    text = hasattr(clf, "model_")
    if quantize and not text and calibration is None:
        raise ConfigError("int8 quantisation of an image model calibrates its activations on real images.",
                          fix="Pass --calibration with a folder of the images the model will see (the training "
                              "data will do).")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = FORMATS[format]
    description = _export_text(clf, out, name, format, quantize) if text else \
        _export_image(clf, out, name, format, quantize, calibration)
    strategy = clf.strategy_ if isinstance(clf.strategy_, str) else clf.strategy_.name
    document = {"format": EXPORT_FORMAT, "format_version": EXPORT_FORMAT_VERSION, "headstart_version": __version__,
                "task": "text" if text else "image", "file": name, "runtime": format, "quantization": quantize,
                "classes": list(clf.classes_), "strategy": strategy, "head": clf.head_,
                "val_accuracy": (getattr(clf, "training_", None) or {}).get("val_accuracy"), **description,
                "output": {"name": "probabilities", "dtype": "float32", "shape": ["batch", len(clf.classes_)]}}
    if format == "onnx":
        _add_metadata(out / name, {"headstart": json.dumps({k: document[k] for k in ("task", "classes")})})
    write_text_atomically(out / "model.json", json.dumps(document, indent=2) + "\n")
    return {**document, "path": str(out / name), "card": str(out / "model.json")}


def _export_image(clf: "ImageClassifier", out: Path, name: str, format: str, quantize: str | None,
                  calibration: Any) -> dict[str, Any]:
    import torch

    from ..inference import resize_rule
    from ..inference.network import INPUT_NAME, example_pixels, export_image_onnx, probability_net

    backbone = clf.net_.backbone
    preprocessing = backbone.preprocessing
    if format == "torchscript":
        network = copy.deepcopy(probability_net(clf)).requires_grad_(False)  # outputs then need no .detach()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch 2.14 marks TorchScript deprecated; it still runs
            traced = torch.jit.trace(network, (example_pixels(clf),), check_trace=False)
            write_atomically(out / name, lambda stream: torch.jit.save(traced, stream))
    elif quantize:
        from .quantize import quantize_int8

        pixels = _calibration_pixels(clf, calibration)
        fp32 = export_image_onnx(clf, out / f".{name}.fp32")
        try:
            quantize_int8(fp32, out / name, pixels, INPUT_NAME)
        finally:
            fp32.unlink(missing_ok=True)
    else:
        export_image_onnx(clf, out / name)
    size = preprocessing.image_size
    return {"backbone": backbone.name,
            "input": {"name": INPUT_NAME, "dtype": "uint8", "shape": ["batch", size, size, backbone.in_chans],
                      "layout": "NHWC", "channels": {1: "L", 3: "RGB", 4: "RGBA"}.get(backbone.in_chans),
                      "background": clf.background, "normalisation": "inside the graph"},
            "preprocessing": resize_rule(preprocessing), "tta": clf.tta}


def _calibration_pixels(clf: "ImageClassifier", calibration: Any):
    import numpy as np

    from ..classifier import list_images
    from ..errors import DataError
    from ..inference import pixel_preparer

    source = [calibration] if isinstance(calibration, (str, Path)) else list(calibration)
    files = list_images(source)
    files = files[::max(1, len(files) // CALIBRATION_IMAGES)][:CALIBRATION_IMAGES]
    preprocessing = clf.net_.backbone.preprocessing
    prepare = pixel_preparer(preprocessing, in_chans=preprocessing.in_chans, background=clf.background)
    pixels = []
    for path in files:
        try:
            pixels.append(prepare(path))
        except DataError:
            continue
    return np.stack(pixels) if pixels else np.zeros((0,), np.uint8)


def _export_text(clf: "TextClassifier", out: Path, name: str, format: str, quantize: str | None) -> dict[str, Any]:
    from .text import export_text_onnx, text_parts

    if format != "onnx":
        text_parts(clf)  # a TF-IDF or word-vector model is refused for what it is, whatever the format
        raise ConfigError("text models export to ONNX only.", fix="Pass --format onnx.")
    description = export_text_onnx(clf, out, name)
    if quantize:
        from .quantize import quantize_dynamic_int8

        quantize_dynamic_int8(out / name)
    return {"backbone": (clf.backbone_ or {}).get("name"), "input": description}


def _add_metadata(path: Path, properties: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    for key, value in properties.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    write_atomically(path, lambda stream: stream.write(model.SerializeToString()))


__all__ = ["FORMATS", "QUANTIZATIONS", "export_model"]
