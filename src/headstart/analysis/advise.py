"""``advise``: choose a strategy from the data's size and its measured similarity to the source.

The rule of thumb: little data that looks like the source -> freeze everything; more data, or data
far from the source -> fine-tune more stages, starting where the data stops looking like the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..backbones import load_backbone
from ..data.dataset import ImageSet, check_images, find_images
from ..runtime import pick_device
from ..validation import POSITIVE_INT, SEED, validate
from .similarity import StageEvidence, probe_accuracies, stage_statistics

# A stage whose BatchNorm inputs diverge from the source's by more than this (mean Gaussian KL per
# channel) sees data unlike what it was trained on. Measured with EfficientNet-Lite0: scikit-image's
# natural photos 0.04-0.14 per stage; Fashion-MNIST 0.24-0.75; scikit-learn's 8-px digits 0.43-0.92.
FAR_FROM_SOURCE = 0.3
FEW_IMAGES_PER_CLASS = 30
MANY_IMAGES_PER_CLASS = 200


@dataclass
class Advice:
    """A recommended strategy and the evidence behind it."""

    strategy: str
    freeze: int | None
    lr: float
    backbone_lr: float | None
    images_per_class: float
    num_classes: int
    backbone: str
    stages: list[StageEvidence] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "freeze": self.freeze, "lr": self.lr, "backbone_lr": self.backbone_lr,
                "images_per_class": self.images_per_class, "num_classes": self.num_classes,
                "backbone": self.backbone, "stages": [s.to_dict() for s in self.stages], "reasons": self.reasons}

    def explain(self) -> str:
        freeze = f" --freeze {self.freeze}" if self.freeze is not None else ""
        return f"advice: --strategy {self.strategy}{freeze}\n" + "\n".join(f"  - {r}" for r in self.reasons)


def advice_paragraph(reasons: list[str]) -> str:
    """An advice's reasons (``Advice.reasons``, or ``advice_["reasons"]`` of a model) as one paragraph."""
    return " ".join(reason[:1].upper() + reason[1:] for reason in reasons)


def _sample(images: ImageSet, per_class: int, seed: int) -> ImageSet:
    rng = np.random.default_rng(seed)
    labels = np.asarray(images.labels)
    chosen = [i for c in range(len(images.classes))
              for i in rng.permutation(np.flatnonzero(labels == c))[:per_class]]
    return images.subset(sorted(chosen))


def recommend(stages: list[StageEvidence], images_per_class: float, num_classes: int, backbone: str,
              lr: float = 1e-3, can_fine_tune: bool = True) -> Advice:
    """The decision rule, from measured evidence (separate from measuring, so it can be read and tested).

    ``can_fine_tune``: whether the run will get the compute fine-tuning needs (a GPU, or a training budget the
    user chose). Without it, where the rule would fine-tune, multi-layer features of the frozen network are
    advised instead: on 2 CPU cores within 45 s, fine-tuning lost 10-47 points to frozen features on
    Fashion-MNIST, and multi-layer features gained 3-4 over them (benchmarks/compare_fashion_mnist.py)."""
    count = len(stages)
    shifts = [s.bn_shift for s in stages]
    far_from = next((i for i, s in enumerate(shifts) if s is not None and s > FAR_FROM_SOURCE), None)
    probes = [s.probe_accuracy for s in stages if s.probe_accuracy is not None]
    best_probe = max(probes) if probes else 0.0
    late_probe = probes[-1] if probes else 0.0
    reasons = [f"Your data has {images_per_class:g} labelled images per class (the median) in {num_classes} "
               "classes."]
    if probes:
        best_stage = int(np.argmax(probes))
        reasons.append(f"The pretrained features of stage {best_stage + 1} ({stages[best_stage].stage}) already "
                       f"separate your classes at {best_probe:.0%} (cross-validated linear probe), the last "
                       f"stage's at {late_probe:.0%}.")
    if far_from is None:
        reasons.append("Your images look like the source data (ImageNet) at every stage (BatchNorm statistics "
                       f"shift below {FAR_FROM_SOURCE}).")
    else:
        shift = f"(BatchNorm statistics shift {shifts[far_from]:.2f}, above {FAR_FROM_SOURCE})"
        close = f"look like the source data (ImageNet) in stages 1-{far_from} and differ from it" if far_from \
            else "differ from the source data (ImageNet)"
        reasons.append(f"Your images {close} from stage {far_from + 1} ({stages[far_from].stage}) on {shift}.")
    if images_per_class < FEW_IMAGES_PER_CLASS:
        strategy, freeze = "frozen", None
        reasons.append(f"With fewer than {FEW_IMAGES_PER_CLASS} images per class, fine-tuning would overfit: every "
                       "pretrained layer stays frozen and only the new head is fitted (frozen).")
    elif images_per_class < MANY_IMAGES_PER_CLASS:
        if far_from is None and late_probe >= 0.9:
            strategy, freeze = "frozen", None
            reasons.append("The data is similar and the frozen features already separate its classes, so only "
                           "the new head is fitted (frozen).")
        else:
            freeze = int(np.clip(far_from if far_from is not None else count - 2, 2, count - 1))
            strategy = "partial"
            reasons.append(f"With a moderate amount of data ({FEW_IMAGES_PER_CLASS}-{MANY_IMAGES_PER_CLASS} per "
                           f"class), stages 1-{freeze} stay frozen and stages {freeze + 1}-{count}, where your data "
                           f"differs most, are fine-tuned (partial, --freeze {freeze}).")
    elif far_from is not None and far_from < count // 2:
        strategy, freeze = "full", None
        reasons.append("With plenty of data that differs from the source early on, every layer is fine-tuned, the "
                       "pretrained ones at a tenth of the head's learning rate (full).")
    else:
        freeze = int(np.clip(far_from if far_from is not None else count // 2, 1, count - 1))
        strategy = "partial"
        reasons.append(f"With plenty of data, stages 1-{freeze} stay frozen and the rest are fine-tuned "
                       f"(partial, --freeze {freeze}).")
    if strategy == "frozen" and far_from is not None:
        strategy = "multilayer"
        reasons.append("As your images differ from the source, the head reads every block of the frozen network, "
                       "not only its last: early blocks keep the edges and textures the last one abstracts away "
                       "(multilayer).")
    if strategy in ("partial", "full") and not can_fine_tune:
        strategy, freeze = "multilayer", None
        reasons.append("Fine-tuning needs more compute than this run has (a CPU, and no --epochs or "
                       "--time-budget), so the network stays frozen and the head reads every block of it instead "
                       "(multilayer).")
    backbone_lr = None if strategy in ("frozen", "multilayer") else lr / 10
    return Advice(strategy, freeze, lr, backbone_lr, images_per_class, num_classes, backbone, stages, reasons)


def advise(data: str | Path | ImageSet, *, backbone: str = "efficientnet_lite0", in_chans: int = 3,
           weights: str | Path | None = None, sample_per_class: int = 30, seed: int = 0,
           probe: bool = True, can_fine_tune: bool | None = None) -> Advice:
    """Measure the data (a sample of ``sample_per_class`` images per class) and recommend a strategy.

    ``weights``: a local weights file for a backbone without bundled weights (as ``--weights``);
    ``can_fine_tune``: see :func:`recommend` (default: whether this machine has a GPU)."""
    validate({"in_chans": in_chans, "sample_per_class": sample_per_class, "seed": seed},
             {"in_chans": [POSITIVE_INT], "sample_per_class": [POSITIVE_INT], "seed": [SEED]})
    if can_fine_tune is None:
        can_fine_tune = pick_device("auto").type != "cpu"
    images = data if isinstance(data, ImageSet) else check_images(find_images(data), in_chans=in_chans)
    counts = list(images.class_counts().values())
    sample = _sample(images, sample_per_class, seed)
    network = load_backbone(backbone, in_chans=in_chans, weights=weights)
    shifts, features = stage_statistics(network, sample, features=probe)
    probes = probe_accuracies(features, np.asarray(sample.labels), seed=seed) if probe else [None] * len(shifts)
    evidence = [StageEvidence(stage.name, shift, accuracy)
                for stage, shift, accuracy in zip(network.stages, shifts, probes)]
    return recommend(evidence, float(np.median(counts)), len(images.classes), backbone, can_fine_tune=can_fine_tune)
