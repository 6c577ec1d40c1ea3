"""Opening one image file as the pixels a backbone expects, whatever its mode."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageColor

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


def load_image(path: str | Path | BinaryIO, in_chans: int = 3, background: str = "white") -> Image.Image:
    """Decode ``path`` (a file, or an open binary stream) into an ``L`` (1 channel), ``RGB`` (3) or ``RGBA`` (4)
    image; see :func:`model_mode`. Raises the PIL/OS error of an unreadable file; callers decide whether to skip
    or fail."""
    with Image.open(path) as opened:
        opened.load()
        return model_mode(opened, in_chans, background)


def model_mode(image: Image.Image, in_chans: int = 3, background: str = "white") -> Image.Image:
    """``image`` as ``L`` (1 channel), ``RGB`` (3) or ``RGBA`` (4).

    Transparent images (RGBA, LA, palette with transparency) are composited onto ``background``
    rather than losing their alpha to black; 16-bit and 32-bit grayscale are scaled to 8 bits.
    """
    image = _to_8bit(image)
    if in_chans == 4:
        return image.convert("RGBA")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, ImageColor.getrgb(background) + (255,))
        image = Image.alpha_composite(canvas, rgba)
    return image.convert("L" if in_chans == 1 else "RGB")
