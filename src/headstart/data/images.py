"""Opening one image file as the pixels a backbone expects, whatever its mode, orientation and size.

This is the one place headstart decodes an image (training, embedding, predict, inspect).
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageColor, ImageOps

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and float grayscale images scaled to 0-255 (by their dtype's range, not their own max)."""
    array = np.asarray(image)
    if image.mode.startswith("I;16") or array.dtype == np.uint16:
        return Image.fromarray((array.astype(np.float32) / 257.0).round().clip(0, 255).astype(np.uint8), "L")
    if image.mode == "I":
        top = 65535.0 if array.max() > 255 else 255.0
        return Image.fromarray((array.astype(np.float32) * 255.0 / top).round().clip(0, 255).astype(np.uint8), "L")
    if image.mode == "F":
        top = 1.0 if array.max() <= 1.0 else 255.0
        return Image.fromarray((array * 255.0 / top).round().clip(0, 255).astype(np.uint8), "L")
    return image


class OversizeImageError(ValueError):
    """An image with more pixels than Pillow agrees to decode (its decompression-bomb limit)."""


_WARNING_FILTERS = threading.Lock()


def load_image(path: str | Path | BinaryIO, in_chans: int = 3, background: str = "white", *,
               min_side: int | None = None) -> Image.Image:
    """Decode ``path`` (a file, or an open binary stream) into an ``L`` (1 channel), ``RGB`` (3) or ``RGBA`` (4)
    image, upright; see :func:`model_mode`. With ``min_side``, a large JPEG is decoded at a reduced scale
    (``draft``) that keeps both sides at least twice ``min_side``, so a 12-megapixel photo is not decoded whole
    to be resized to 256 px.

    Raises ``OversizeImageError`` above Pillow's limit (``Image.MAX_IMAGE_PIXELS``, doubled), else the
    PIL/OS error of an unreadable file; callers decide whether to skip or fail.
    """
    # Large images are decoded reduced here, not reported as Pillow's warning. The warning filters are one global
    # list that catch_warnings saves and restores: images decoded on several threads take turns at it.
    with _WARNING_FILTERS, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            opened = Image.open(path)
        except Image.DecompressionBombError:
            limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
            raise OversizeImageError(f"too large: over {limit:.0f} megapixels, Pillow's decompression-bomb "
                                     "limit") from None
    with opened:
        if min_side is not None and opened.format == "JPEG":
            opened.draft(None, (draft_side(min_side),) * 2)
        opened.load()
        return model_mode(opened, in_chans, background)


def draft_side(min_side: int) -> int:
    """The side below which a large JPEG is not reduced while decoding, for a resize to ``min_side``: twice it,
    so the resize that follows still averages over several decoded pixels."""
    return 2 * min_side


def model_mode(image: Image.Image, in_chans: int = 3, background: str = "white") -> Image.Image:
    """``image`` upright, as ``L`` (1 channel), ``RGB`` (3) or ``RGBA`` (4).

    The EXIF orientation is applied (a phone photo stored sideways comes out as it was taken). Transparent
    images (RGBA, LA, palette with transparency) are composited onto ``background`` rather than losing their
    alpha to black; 16-bit and 32-bit grayscale are scaled to 8 bits.
    """
    image = _to_8bit(ImageOps.exif_transpose(image))
    if in_chans == 4:
        return image.convert("RGBA")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, ImageColor.getrgb(background) + (255,))
        image = Image.alpha_composite(canvas, rgba)
    return image.convert("L" if in_chans == 1 else "RGB")
