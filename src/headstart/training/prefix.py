"""``partial`` fine-tuning on a cached frozen prefix.

The stages ``partial`` keeps frozen compute the same output for an image in every epoch. So they run once per
(image, augmented view): the first view is the evaluation crop, the others random-resized crops with flips and
colour jitter, each drawn from a seed of the image's content, so the same view comes back from the cache. Their
output is kept in float16 in the embedding cache (an extractor key per view), and each epoch trains only the
suffix (the unfrozen stages) and the head on it, at the backbone's own resolution. Before the suffix unfreezes,
the head starts from the logistic-regression probe fitted on the frozen features (LP-FT, Kumar et al., ICLR 2022:
a random head's gradients would first distort the pretrained features).

The cut is found from the network itself: the modules that finish before the last frozen stage's output are
skipped (replaced by identities while the suffix trains), and the split is accepted only if the suffix applied
to the prefix's output reproduces the whole network's output on a probe image; otherwise (a network whose forward
is not a chain at that point) ``partial`` trains as before, the whole network every step.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..backbones import Backbone
from ..data.dataset import ImageDataset, ImageSet, decode_side, make_transform
from ..features.capture import capturing
from ..features.cache import EmbeddingCache, describe_key, file_digests
from ..features.extract import extractor_description
from ..heads import fit_head
from ..model import TransferNet
from ..progress import progress_bar
from ..runtime import loader_workers

PREFIX_VIEWS = 4  # cached views per training image: the evaluation crop and three augmented ones
PREFIX_MEMORY = 2 * 1024 ** 3  # bytes of float16 activations held for training; fewer views above it


@dataclass(frozen=True)
class PrefixSplit:
    """Where ``partial``'s frozen prefix ends: ``cut`` is the module whose output the suffix starts from, and
    ``skipped`` the modules (inside the backbone's body) that the prefix computes and the suffix skips."""

    cut: str
    skipped: tuple[str, ...]
    shape: tuple[int, ...]  # one image's prefix output (C, H, W)


def split_prefix(backbone: Backbone, frozen_stages: int) -> PrefixSplit | None:
    """The split after ``frozen_stages`` stages, or ``None`` when none is frozen, all are, or the suffix run on
    the prefix's output does not reproduce the network's output (within 1e-4) on a probe image."""
    if not 0 < frozen_stages < len(backbone.stages):
        return None
    cut = backbone.stage_module_name(frozen_stages - 1)
    side = backbone.preprocessing.image_size
    probe = torch.randn(2, backbone.in_chans, side, side, generator=torch.Generator().manual_seed(0))
    was_training = backbone.training
    backbone.eval()
    try:
        with capturing(backbone.body, (name for name, _ in backbone.body.named_modules() if name),
                       record=lambda *_: None) as modules, capturing(backbone.body, [cut]) as captured, \
                torch.inference_mode():
            expected = backbone(probe)
        outputs = captured.records[cut]
        if len(outputs) != 1 or not isinstance(outputs[0], torch.Tensor):  # the cut ran twice, or not a tensor
            return None
        finished = modules.order
        before = set(finished[:finished.index(cut) + 1])
        skipped = tuple(name for name in finished[:finished.index(cut) + 1]
                        if not any(name.startswith(f"{other}.") for other in before))
        split = PrefixSplit(cut, tuple(dict.fromkeys(skipped)), tuple(outputs[0].shape[1:]))
        try:
            with torch.inference_mode(), skipping(backbone, split):
                rebuilt = backbone(outputs[0])
        except (RuntimeError, ValueError, TypeError, IndexError):  # the rest of the forward expects other inputs
            return None
        return split if rebuilt.shape == expected.shape and torch.allclose(rebuilt, expected, atol=1e-4) else None
    finally:
        backbone.train(was_training)


@contextmanager
def skipping(backbone: Backbone, split: PrefixSplit) -> Iterator[None]:
    """Inside, ``backbone`` takes the prefix's output instead of images: the skipped modules are identities."""
    originals = {}
    for name in split.skipped:
        parent_name, _, child = name.rpartition(".")
        parent = backbone.body.get_submodule(parent_name) if parent_name else backbone.body
        originals[name] = (parent, child, parent._modules[child])
        parent._modules[child] = nn.Identity()
    try:
        yield
    finally:
        for parent, child, module in originals.values():
            parent._modules[child] = module


def prefix_activations(backbone: Backbone, split: PrefixSplit, images: ImageSet, *, views: int, seed: int,
                       cache: EmbeddingCache | None, background: str = "white", batch_size: int = 32,
                       progress: bool = True) -> np.ndarray:
    """The prefix's output ``(len(images), views, *split.shape)`` in float16: view 0 the evaluation crop, the
    others augmented; read from ``cache`` where it has them, computed (and cached) otherwise."""
    descriptions = [{**extractor_description(backbone, stage=f"prefix:{split.cut}", tta=False, precision="fp16",
                                             background=background), "augmentation_seed": seed, "view": view}
                    for view in range(views)]
    keys = [describe_key(description) for description in descriptions]
    digests = file_digests(images.paths)
    out = np.zeros((len(images), views, *split.shape), np.float16)
    todo = []
    for i, digest in enumerate(digests):
        for view, key in enumerate(keys):
            row = cache.get(key, digest) if cache is not None else None
            if row is None:
                todo.append((i, view))
            else:
                out[i, view] = row.reshape(split.shape)
    if not todo:
        return out
    if cache is not None:
        for key, description in zip(keys, descriptions):
            cache.register(key, description, dim=int(np.prod(split.shape)), dtype="float16")
    dataset = _Views(images, digests, todo, backbone, background, seed)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=loader_workers() if len(todo) > batch_size else 0)
    was_training = backbone.training
    backbone.eval()
    try:
        with progress_bar(len(todo), f"frozen stages of {backbone.name}, {views} views", enabled=progress) as advance, \
                capturing(backbone.body, [split.cut], stop_after=split.cut) as captured, torch.inference_mode():
            for pixels, positions in loader:
                captured.run(backbone, pixels.contiguous(memory_format=torch.channels_last))
                rows = captured.records[split.cut].pop().to(torch.float16).contiguous().numpy()
                for (i, view), row in zip(positions.tolist(), rows):
                    out[i, view] = row
                    if cache is not None:
                        cache.put(keys[view], digests[i], row.reshape(-1))
                advance(len(rows))
    finally:
        backbone.train(was_training)
    return out


class _Views(Dataset):
    """``(pixels, (image index, view))`` for the prefix: view 0 the evaluation transform, others the training
    augmentation drawn from a seed of (image content, view, seed)."""

    def __init__(self, images: ImageSet, digests: list[str], todo: list[tuple[int, int]], backbone: Backbone,
                 background: str, seed: int):
        preprocessing = backbone.preprocessing
        self.images, self.digests, self.todo, self.seed = images, digests, todo, seed
        self.decoded = ImageDataset(images, make_transform(preprocessing, train=False), backbone.in_chans, background,
                                    min_side=decode_side(preprocessing))
        self.augment = make_transform(preprocessing, train=True)

    def __len__(self) -> int:
        return len(self.todo)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i, view = self.todo[index]
        if view == 0:
            pixels = self.decoded[i][0]
        else:
            draw = int.from_bytes(hashlib.blake2b(f"{self.digests[i]}/{view}/{self.seed}".encode(),
                                                  digest_size=8).digest(), "little")
            random.seed(draw)
            torch.manual_seed(draw)
            image = self.decoded.load(i)
            pixels = self.augment(image)
        return pixels, torch.tensor([i, view])


class CachedViews(Dataset):
    """``(prefix output, label)`` pairs for training the suffix: a random cached view of each image per visit
    (``train``), or view 0 (validation). (Mirroring the cached maps as well scored 1.3 points lower on
    Fashion-MNIST: ``benchmarks/results/cached_prefix.md``.)"""

    def __init__(self, activations: np.ndarray, labels: list[int], *, train: bool):
        self.activations, self.labels, self.train = activations, labels, train

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        view = int(torch.randint(self.activations.shape[1], ())) if self.train else 0
        return torch.from_numpy(self.activations[index, view].astype(np.float32)), self.labels[index]


def views_for(count: int, split: PrefixSplit) -> int:
    """Cached views per training image: :data:`PREFIX_VIEWS`, fewer where they would not fit in
    :data:`PREFIX_MEMORY`, at least one."""
    per_view = 2 * int(np.prod(split.shape)) * max(count, 1)
    return int(max(1, min(PREFIX_VIEWS, PREFIX_MEMORY // per_view)))


def start_from_probe(net: TransferNet, activations: np.ndarray, labels: list[int], *,
                     class_weight: np.ndarray | None, seed: int) -> None:
    """LP-FT's first step: ``net``'s linear head set to the logistic-regression probe on the pooled features the
    frozen network gives (``activations``: the prefix outputs of view 0; call inside :func:`skipping`)."""
    was_training = net.training
    net.eval()
    with torch.inference_mode():
        pooled = np.concatenate([net.backbone(torch.from_numpy(chunk.astype(np.float32))).numpy()
                                 for chunk in np.array_split(activations, max(1, len(activations) // 64))])
    probe, _ = fit_head("logreg", pooled, np.asarray(labels), net.head.linear.out_features,
                        class_weight=class_weight, seed=seed)
    with torch.no_grad():
        net.head.linear.weight.copy_(probe.linear.weight)
        net.head.linear.bias.copy_(probe.linear.bias)
    net.train(was_training)
