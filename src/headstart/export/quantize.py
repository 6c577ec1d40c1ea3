"""int8 quantisation of exported ONNX graphs with ONNX Runtime. Image graphs: static, per-channel weights, activations
calibrated on real images (dynamic quantisation of convolutions ran 2x slower than fp32 here)."""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from ..atomic import write_atomically
from ..errors import ConfigError

CALIBRATION_BATCH = 8


def quantize_int8(graph: Path, target: Path, calibration: np.ndarray, input_name: str) -> Path:
    """``graph`` quantised to int8 (QDQ) at ``target``; ``calibration`` is a ``(N, H, W, C)`` uint8 sample of the
    images the model will see."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if not len(calibration):
        raise ConfigError("int8 quantisation needs calibration images, and none were readable.",
                          fix="Pass --calibration with a folder of the images the model will see.")

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches: Iterator[np.ndarray] = (calibration[i:i + CALIBRATION_BATCH]
                                                  for i in range(0, len(calibration), CALIBRATION_BATCH))

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    with tempfile.TemporaryDirectory() as scratch, _quiet():
        prepared, quantized = Path(scratch) / "prepared.onnx", Path(scratch) / "int8.onnx"
        quant_pre_process(str(graph), str(prepared))
        softmax = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type == "Softmax"]
        quantize_static(str(prepared), str(quantized), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8,
                        nodes_to_exclude=softmax)  # probabilities in float, not in steps of 1/255
        data = quantized.read_bytes()
    return write_atomically(target, lambda stream: stream.write(data))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """ONNX Runtime's quantisation tools print their progress; keep the command's output to its own."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


def quantize_dynamic_int8(graph: Path) -> Path:
    """``graph`` (a transformer) with int8 weights in its matrix multiplications, in place."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as scratch, _quiet():
        quantized = Path(scratch) / "int8.onnx"
        quantize_dynamic(str(graph), str(quantized), weight_type=QuantType.QInt8)
        data = quantized.read_bytes()
    return write_atomically(graph, lambda stream: stream.write(data))
