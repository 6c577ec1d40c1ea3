"""Whatever a caller holds — a file, bytes, a PIL image, a numpy array — as the uint8 pixels a model's graph takes.

Every image goes through the same two steps as in training and ``headstart predict``: decoded into the model's
mode (:func:`~headstart.data.images.model_mode`: 8 bits, alpha composited onto the background), then resized and
centre-cropped by the backbone's evaluation transform. The result is ``(H, W, C)`` uint8.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..backbones.spec import Preprocessing
from ..data.dataset import decode_side, make_pixel_transform
from ..data.images import draft_side, load_image, model_mode
from ..errors import DataError, NotAnImageError

ImageInput = Union[str, Path, bytes, bytearray, memoryview, Image.Image, np.ndarray]


def _describe(item: Any, name: str | None) -> str:
    return name or (str(item) if isinstance(item, (str, Path)) else f"a {type(item).__name__}")


def decode(item: ImageInput, *, in_chans: int, background: str, name: str | None = None,
           min_side: int | None = None) -> Image.Image:
    """``item`` decoded into the model's mode (a large JPEG file reduced while decoding, as in training: see
    :func:`~headstart.data.images.load_image`); a :class:`DataError` naming ``name`` when it is not an image."""
    label = _describe(item, name)
    try:
        if isinstance(item, (str, Path)):
            if not Path(item).is_file():
                raise DataError("does not exist.", path=label, fix="Pass an existing image file.")
            return load_image(item, in_chans, background, min_side=min_side)
        if isinstance(item, (bytes, bytearray, memoryview)):
            if not len(item):
                raise DataError("is empty (0 bytes).", path=label, fix="Send the image file's contents.")
            return load_image(io.BytesIO(bytes(item)), in_chans, background, min_side=min_side)
        if isinstance(item, Image.Image):
            return model_mode(item, in_chans, background)
        if isinstance(item, np.ndarray):
            return model_mode(_from_array(item, label), in_chans, background)
    except UnidentifiedImageError:
        raise NotAnImageError("is not an image (no known image format).", path=label,
                        fix="Send a JPEG, PNG, BMP, GIF, TIFF or WebP image.") from None
    except Image.DecompressionBombError as error:
        raise DataError(f"is too large to decode safely ({error}).", path=label,
                        fix="Downscale the image first.") from None
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        raise DataError(f"could not be decoded: the image is damaged or truncated ({error}).", path=label,
                        fix="Send the complete, undamaged file.") from None
    raise NotAnImageError(f"is a {type(item).__name__}, not an image.", path=label,
                    fix="Pass a path, the file's bytes, a PIL image or a (H, W[, C]) numpy array.")


def _from_array(array: np.ndarray, label: str) -> Image.Image:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or 0 in array.shape:
        raise NotAnImageError(f"is an array of shape {array.shape}, not an image.", path=label,
                        fix="Pass (H, W) grayscale, (H, W, 3) RGB or (H, W, 4) RGBA.")
    if array.dtype == np.uint8:
        return Image.fromarray(np.ascontiguousarray(array))
    if array.ndim == 2 and array.dtype in (np.uint16, np.float32):
        return Image.fromarray(np.ascontiguousarray(array))  # 16-bit / float grayscale: scaled by model_mode
    raise DataError(f"is a {array.dtype} array of shape {array.shape}; colour images must be uint8.", path=label,
                    fix="Convert it, e.g. (array * 255).round().astype(np.uint8) for values in [0, 1].")


def pixel_preparer(preprocessing: Preprocessing, *, in_chans: int,
                   background: str) -> Callable[[ImageInput, str | None], np.ndarray]:
    """A function from one input (and an optional name for errors) to resized, cropped ``(H, W, C)`` uint8."""
    transform, side = make_pixel_transform(preprocessing), decode_side(preprocessing)

    def prepare(item: ImageInput, name: str | None = None) -> np.ndarray:
        image = decode(item, in_chans=in_chans, background=background, name=name, min_side=side)
        return transform(image).permute(1, 2, 0).numpy()

    return prepare


def resize_rule(preprocessing: Preprocessing) -> dict[str, Any]:
    """The evaluation resize and crop as plain data (what an exported graph's caller must do before it)."""
    resize, crop = make_pixel_transform(preprocessing).transforms[:2]
    shorter = resize.size if isinstance(resize.size, int) else resize.size[0]
    return {"jpeg_draft_side": draft_side(decode_side(preprocessing)),
            "resize_shorter_side": int(shorter), "interpolation": preprocessing.interpolation,
            "center_crop": [int(side) for side in crop.size], "image_size": preprocessing.image_size}
