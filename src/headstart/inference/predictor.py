"""``Predictor``: a loaded model held ready to answer — one inference session, in-memory inputs, batches.

    predictor = Predictor("model/")                       # or Predictor(fitted_classifier)
    predictor.predict_top_k([open("cat.jpg", "rb").read(), pil_image, "dog.png"], k=3)
    predictor.predict(["The striker scored twice"])       # a text model takes strings

Image models run their whole network (pixels to probabilities, :mod:`.network`) in one ONNX Runtime session on
CPU (the graph is exported once and cached by the weights' digest) or in PyTorch on a GPU or with
``engine="torch"``. Text models answer through their classifier, its encoder loaded once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..features.cache import EmbeddingCache, describe_key, open_cache
from ..features.engine import onnx_session, weights_digest
from ..runtime import pick_device
from .inputs import ImageInput, pixel_preparer, resize_rule
from .network import INPUT_NAME, export_image_onnx, probability_net

if TYPE_CHECKING:
    from ..classifier import ImageClassifier
    from ..text.classifier import TextClassifier

ENGINES = ("auto", "onnx", "torch")


class Predictor:
    """A fitted classifier held ready for predictions.

    Args:
        model: a saved model (``model.pt`` or its folder) or a fitted ``ImageClassifier``/``TextClassifier``.
        engine: image models: ``auto`` (ONNX Runtime on CPU, PyTorch on a GPU), ``onnx`` or ``torch``.
        batch_size: inputs per forward pass.
        threads: ONNX Runtime intra-op threads (default: every core).
        cache: where the exported graph is kept (as ``ImageClassifier(cache=...)``); ``False`` exports to a
            temporary file.
    """

    def __init__(self, model: str | Path | Any, *, engine: str = "auto", batch_size: int = 32,
                 threads: int | None = None, cache: bool | str | Path = True):
        from ..bundle import load

        if engine not in ENGINES:
            raise ConfigError(f"unknown engine {engine!r}.", fix=f"Choose one of {', '.join(ENGINES)}.")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}.", fix="Pass e.g. batch_size=32.")
        if isinstance(model, (str, Path)):
            model = load(model)
            model.progress = False
        if not hasattr(model, "classes_"):
            raise ConfigError("this classifier is not fitted yet.", fix="Call fit(data) or headstart.load(path).")
        self.model = model
        self.classes: list[str] = list(self.model.classes_)
        self.task = "text" if hasattr(self.model, "model_") else "image"
        self.batch_size = batch_size
        if self.task == "image":
            preprocessing = self.model.net_.backbone.preprocessing
            self.prepare = pixel_preparer(preprocessing, in_chans=preprocessing.in_chans,
                                          background=self.model.background)
            self._run = self._image_runner(engine, threads or os.cpu_count() or 1, cache)

    # ------------------------------------------------------------------ set-up
    def _image_runner(self, engine: str, threads: int, cache: bool | str | Path) -> Callable[[np.ndarray], np.ndarray]:
        device = pick_device()
        if engine == "onnx" or (engine == "auto" and device.type == "cpu"):
            session = onnx_session(self._graph(cache), threads=threads)
            return lambda pixels: session.run(None, {INPUT_NAME: pixels})[0]
        network = probability_net(self.model).to(device)

        def run(pixels: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return network(torch.from_numpy(pixels).to(device)).float().cpu().numpy()

        return run

    def _graph(self, cache: bool | str | Path) -> Path:
        net = self.model.net_
        key = describe_key({"graph": "probabilities", "weights": weights_digest(net), "tta": self.model.tta,
                            "preprocessing": net.backbone.preprocessing.to_dict(), "input": "uint8-nhwc"})
        store = open_cache(cache)
        path = store.graph_path(key) if store is not None else \
            EmbeddingCache(Path(os.environ.get("TMPDIR", "/tmp")) / f"headstart-{os.getpid()}").graph_path(key)
        return path if path.exists() else export_image_onnx(self.model, path)

    # -------------------------------------------------------------- predicting
    def pixels(self, images: Sequence[ImageInput], names: Sequence[str | None] | None = None) -> np.ndarray:
        """``images`` decoded, resized and cropped: ``(N, H, W, C)`` uint8, the exported graph's input."""
        self._require("image")
        names = names or [None] * len(images)
        return np.stack([self.prepare(item, name) for item, name in zip(images, names)])

    def predict_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Class probabilities for prepared ``(N, H, W, C)`` uint8 pixels, ``batch_size`` at a time."""
        self._require("image")
        if not len(pixels):
            return np.zeros((0, len(self.classes)), np.float32)
        pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
        return np.concatenate([self._run(pixels[i:i + self.batch_size]) for i in range(0, len(pixels),
                                                                                        self.batch_size)])

    def predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities for a text model."""
        self._require("text")
        for number, text in enumerate(texts):
            if not isinstance(text, str):
                raise DataError(f"input {number} is a {type(text).__name__}; this text model takes strings.",
                                fix="Pass a list of strings.")
        return self.model.predict_proba(list(texts)).astype(np.float32, copy=False)

    def predict_proba(self, inputs: Sequence[Any]) -> np.ndarray:
        """Class probabilities ``(n, len(classes))`` for images (paths, bytes, PIL images, arrays) or texts."""
        if isinstance(inputs, (str, bytes, np.ndarray)) or not isinstance(inputs, Sequence):
            raise DataError(f"expected a list of inputs, got a {type(inputs).__name__}.",
                            fix="Wrap a single input in a list: predict([x]).")
        if self.task == "text":
            return self.predict_texts(inputs)
        chunks = [self.predict_pixels(self.pixels(inputs[i:i + self.batch_size]))
                  for i in range(0, len(inputs), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes)), np.float32)

    def predict(self, inputs: Sequence[Any]) -> list[str]:
        """The most probable class name per input."""
        return [self.classes[i] for i in self.predict_proba(inputs).argmax(1)]

    def predict_top_k(self, inputs: Sequence[Any], k: int = 3) -> list[list[tuple[str, float]]]:
        """The ``k`` most probable classes with their probabilities, per input."""
        return self.top_k(self.predict_proba(inputs), k)

    def top_k(self, probabilities: np.ndarray, k: int) -> list[list[tuple[str, float]]]:
        k = max(1, min(k, len(self.classes)))
        return [[(self.classes[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:k]]
                for row in probabilities]

    def _require(self, task: str) -> None:
        if self.task != task:
            raise DataError(f"this is a{'n' if self.task == 'image' else ''} {self.task} model; it cannot "
                            f"classify {task}s.", fix=f"Send {self.task}s.")

    # ------------------------------------------------------------------- card
    def card(self) -> dict[str, Any]:
        """What the model is: task, classes, strategy, backbone, head, input, validation scores and the advice."""
        model = self.model
        training = getattr(model, "training_", {}) or {}
        strategy = model.strategy_ if isinstance(model.strategy_, str) else model.strategy_.name
        card: dict[str, Any] = {
            "task": self.task, "classes": self.classes, "strategy": strategy, "head": model.head_,
            "validation": {key: training[key] for key in ("val_accuracy", "val_images", "val_texts",
                                                          "train_images", "train_texts") if key in training},
            "advice": getattr(model, "advice_", None)}
        if self.task == "image":
            backbone = model.net_.backbone
            card.update(backbone=backbone.name, input={**resize_rule(backbone.preprocessing),
                                                       "channels": backbone.in_chans, "tta": model.tta})
        else:
            card["backbone"] = (model.backbone_ or {}).get("name", "tf-idf")
        return card
