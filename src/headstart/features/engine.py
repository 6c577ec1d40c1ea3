"""Inference engines for embedding extraction: ONNX Runtime on an exported graph, or PyTorch.

On CPU the backbone's forward pass is the whole cost of the frozen path, so the default runs the
network through ONNX Runtime (its graph optimiser folds BatchNorm into the convolutions and fuses
activations); the exported graph is cached beside the embeddings. ``torch`` runs eager PyTorch
(channels-last, inference mode; bfloat16 autocast with ``precision="bf16"``), ``compile`` adds
``torch.compile``. Intermediate stages and GPUs use PyTorch.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..backbones import Backbone
from ..errors import ConfigError
from ..atomic import write_atomically
from .capture import capturing, mean_pooled
from .layers import BlockFeatures
from .names import ENGINES, PRECISIONS

Runner = Callable[[torch.Tensor], np.ndarray]
Stage = int | str | None  # None: the pooled output; an int: that stage's output, pooled; "blocks": every block's


def weights_digest(module: nn.Module) -> str:
    """BLAKE2 digest of every tensor in ``module``'s state dict (what the weights are, not their name)."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


class StageOutput(nn.Module):
    """The global-average-pooled output of one backbone stage."""

    def __init__(self, backbone: Backbone, stage: int):
        super().__init__()
        self.backbone = backbone
        self.stage_module = backbone.stage_module_name(stage)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with capturing(self.backbone.body, [self.stage_module]) as captured:
            self.backbone(images)
        return mean_pooled(captured[self.stage_module])


class FromPixels(nn.Module):
    """``network`` fed uint8 pixels: scaled to [0, 1] and normalised as torchvision's ``ToTensor`` and
    ``Normalize`` would, inside the graph."""

    def __init__(self, network: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.network((pixels.float() / 255 - self.mean) / self.std)


def feature_network(backbone: Backbone, stage: Stage) -> nn.Module:
    """The module from normalised images to the features ``stage`` names."""
    if stage == "blocks":
        return BlockFeatures(backbone)
    return backbone if stage is None else StageOutput(backbone, stage)


def resolve_engine(engine: str, precision: str, device: torch.device, stage: Stage) -> str:
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}.", fix=f"Choose one of {', '.join(ENGINES)}.")
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}.", fix=f"Choose one of {', '.join(PRECISIONS)}.")
    exportable = stage is None or stage == "blocks"
    if engine == "onnx" and (precision != "fp32" or device.type != "cpu" or not exportable):
        raise ConfigError("the onnx engine runs fp32 pooled or multi-layer features on CPU only.",
                          fix="Use --engine torch for bf16, GPUs or single intermediate stages.")
    if engine != "auto":
        return engine
    return "onnx" if device.type == "cpu" and precision == "fp32" and exportable else "torch"


def make_runner(backbone: Backbone, *, engine: str, precision: str, device: torch.device, stage: Stage,
                graph_path: Path | None) -> Runner:
    """A function from a batch of uint8 pixels (resized and cropped, ``make_pixel_transform``) to
    float32 features, for the resolved ``engine``."""
    if engine == "onnx":  # pooled or multi-layer features in fp32 on CPU (see resolve_engine)
        graph_path = graph_path or Path(os.environ.get("TMPDIR", "/tmp")) / f"headstart-{os.getpid()}.onnx"
        session = onnx_session(pixel_graph(backbone, graph_path, stage), threads=os.cpu_count() or 1)

        def run_onnx(batch: torch.Tensor) -> np.ndarray:
            return session.run(None, {"images": batch.contiguous().numpy()})[0]

        return run_onnx
    preprocessing = backbone.preprocessing
    network = FromPixels(feature_network(backbone.eval(), stage), preprocessing.mean, preprocessing.std).eval()
    network = network.to(device, memory_format=torch.channels_last)
    if engine == "compile":
        network = torch.compile(network)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def run(batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode(), autocast:
            return network(batch.to(device, memory_format=torch.channels_last)).float().cpu().numpy()

    return run


def pixel_graph(backbone: Backbone, graph_path: Path, stage: Stage = None) -> Path:
    """The graph of ``backbone``'s features (pooled, or ``stage="blocks"``: multi-layer) fed uint8 pixels (see
    :class:`FromPixels`, any batch size), exported to ONNX at ``graph_path`` unless a whole graph is there
    already; written atomically."""
    if not _whole_graph(graph_path):
        preprocessing = backbone.preprocessing
        network = FromPixels(feature_network(backbone.eval(), stage), preprocessing.mean, preprocessing.std).eval()
        size = preprocessing.image_size
        example = torch.zeros(2, preprocessing.in_chans, size, size, dtype=torch.uint8)

        def export(stream) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(network.cpu(), (example,), stream, input_names=["images"],
                                  output_names=["features"], opset_version=17, dynamo=False,
                                  dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}})

        write_atomically(graph_path, export)
    return graph_path


def _whole_graph(graph_path: Path) -> bool:
    """Whether ``graph_path`` holds a well-formed ONNX model (a damaged or truncated file is exported again)."""
    import onnx

    try:
        onnx.checker.check_model(onnx.load(graph_path))
    except Exception:  # absent (OSError), or protobuf/checker errors of many types for a damaged file
        return False
    return True


def onnx_session(graph_path: Path, threads: int):
    """An ONNX Runtime CPU session with every graph optimisation (BatchNorm folding, fusions) and
    ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    if threads == 1:
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(graph_path), options, providers=["CPUExecutionProvider"])
