"""An image classifier's whole network as one module from uint8 pixels to class probabilities.

``(N, H, W, C)`` uint8 in, ``(N, classes)`` float32 out: the conversion to float, the normalisation, the
classifier's own network (whatever its ``forward`` computes, for every strategy) and the softmax are inside, so the
same module runs in the :class:`~headstart.inference.Predictor`, in ONNX Runtime and in TorchScript.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..atomic import write_atomically
from ..features.engine import FromPixels
from ..model import MirrorAveraged

if TYPE_CHECKING:
    from ..classifier import ImageClassifier

INPUT_NAME, OUTPUT_NAME = "pixels", "probabilities"


class ProbabilityNet(nn.Module):
    """``softmax(network(normalise(pixels)))`` for ``(N, H, W, C)`` uint8 pixels."""

    def __init__(self, network: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.network = FromPixels(network, mean, std)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.network(pixels.permute(0, 3, 1, 2)).softmax(1)


def probability_net(clf: "ImageClassifier") -> ProbabilityNet:
    """The fitted ``clf``'s network fed uint8 pixels, in eval mode on the CPU."""
    net = clf.net_.eval()
    preprocessing = net.backbone.preprocessing
    return ProbabilityNet(MirrorAveraged(net) if clf.tta else net, preprocessing.mean, preprocessing.std).cpu().eval()


def example_pixels(clf: "ImageClassifier", batch: int = 2) -> torch.Tensor:
    preprocessing = clf.net_.backbone.preprocessing
    size = preprocessing.image_size
    return torch.randint(0, 256, (batch, size, size, preprocessing.in_chans), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(0))


def export_onnx(module: nn.Module, example: tuple[torch.Tensor, ...], path: Path, *, input_names: list[str],
                output_names: list[str], dynamic_axes: dict[str, dict[int, str]]) -> Path:
    """``module`` traced on ``example`` and written to ``path`` as ONNX (opset 17), atomically."""

    def write(stream) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, example, stream, input_names=input_names, output_names=output_names,
                              opset_version=17, dynamo=False, dynamic_axes=dynamic_axes)

    return write_atomically(path, write)


def export_image_onnx(clf: "ImageClassifier", path: Path) -> Path:
    """``clf``'s :func:`probability_net` as ONNX: input ``pixels`` (batch, H, W, C) uint8, output
    ``probabilities``."""
    return export_onnx(probability_net(clf), (example_pixels(clf),), path, input_names=[INPUT_NAME],
                       output_names=[OUTPUT_NAME],
                       dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
