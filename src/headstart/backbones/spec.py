"""What a backbone's weights expect: input size, normalisation, interpolation."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """The transform a backbone's weights were trained with.

    ``mean``/``std`` have one entry per input channel. ``crop_pct`` is the fraction of the
    resized short side kept by the centre crop (0.875: resize to size/0.875, crop ``size``).
    """

    image_size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @property
    def in_chans(self) -> int:
        return len(self.mean)

    def for_channels(self, in_chans: int) -> "Preprocessing":
        """Statistics for ``in_chans`` inputs: grayscale averages RGB, extra channels repeat it."""
        if in_chans == len(self.mean):
            return self
        mean = [self.mean[i % len(self.mean)] for i in range(in_chans)]
        std = [self.std[i % len(self.std)] for i in range(in_chans)]
        if in_chans == 1:
            mean = [sum(self.mean) / len(self.mean)]
            std = [sum(self.std) / len(self.std)]
        return replace(self, mean=tuple(mean), std=tuple(std))

    def with_size(self, image_size: int | None) -> "Preprocessing":
        return self if image_size is None else replace(self, image_size=int(image_size))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessing":
        return cls(
            image_size=int(data["image_size"]),
            crop_pct=float(data["crop_pct"]),
            interpolation=str(data["interpolation"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
        )


@dataclass(frozen=True)
class BackboneSpec:
    """A registry entry: how to build a named backbone and where its weights live."""

    name: str
    source: str  # "timm" or "torchvision"
    architecture: str
    preprocessing: Preprocessing
    bundled_weights: str | None = None  # import path of a package that ships the weights
    description: str = ""
