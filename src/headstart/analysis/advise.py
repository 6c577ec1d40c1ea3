"""``advise``: choose a strategy from the data's size and its measured similarity to the source; with
``backbones``, also which pretrained backbone fits the data and what more labelled data would buy.

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
from ..data.text import TextDataset, data_task, load_text_dataset
from ..features.cache import EmbeddingCache, open_cache
from ..runtime import pick_device
from ..validation import POSITIVE_INT, SEED, validate
from .ranking import Ranking, rank_backbones
from .similarity import StageEvidence, probe_accuracies, stage_statistics

# A stage whose BatchNorm inputs diverge from the source's by more than this (mean Gaussian KL per
# channel) sees data unlike what it was trained on. Measured with EfficientNet-Lite0: scikit-image's
# natural photos 0.04-0.14 per stage; Fashion-MNIST 0.24-0.75; scikit-learn's 8-px digits 0.43-0.92.
FAR_FROM_SOURCE = 0.3
FEW_IMAGES_PER_CLASS = 30
MANY_IMAGES_PER_CLASS = 200
LOW_PROBE = 0.8  # frozen features that separate the classes worse than this are far from the task
WORTH_LABELLING = 0.02  # doubling the data is worth it when the curve expects at least this much more accuracy
SLOW_GAIN = 0.05  # ... and 10x the data still worth weighing against fine-tuning at this much
NEAR_CEILING = 0.95


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
    ranking: Ranking | None = None
    next_steps: list[str] = field(default_factory=list)
    compare_command: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "freeze": self.freeze, "lr": self.lr, "backbone_lr": self.backbone_lr,
                "images_per_class": self.images_per_class, "num_classes": self.num_classes,
                "backbone": self.backbone, "stages": [s.to_dict() for s in self.stages], "reasons": self.reasons,
                **({"ranking": self.ranking.to_dict(), "next_steps": self.next_steps,
                    "compare_command": self.compare_command} if self.ranking else {})}

    def explain(self) -> str:
        freeze = f" --freeze {self.freeze}" if self.freeze is not None else ""
        steps = "".join(f"\n  - {step}" for step in self.next_steps)
        return (f"advice: --backbone {self.backbone} --strategy {self.strategy}{freeze}\n"
                + "\n".join(f"  - {r}" for r in self.reasons) + (f"\nwhat next:{steps}" if steps else ""))


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


def next_steps(ranking: Ranking, data: str, *, far_from_source: bool) -> tuple[list[str], str]:
    """Plain words from a ranking and its top backbone's learning curve: which backbone, what more labelled data
    is expected to buy, and whether labelling more, fine-tuning deeper or training from scratch comes next; and
    the ``headstart compare`` command that would settle transfer against scratch on this data."""
    best, unit = ranking.best, "images" if ranking.task == "image" else "texts"
    curve, ranked = best.curve, ranking.ranked
    now, twice, tenfold = curve.at(1), curve.at(2), curve.at(10)
    size = int(ranking.per_class)
    trained = "scratch,frozen,partial,full" if ranking.task == "image" else "scratch,frozen,full"
    command = f"headstart compare {data} --strategies {trained} --per-class {max(1, size // 4)},{max(1, size // 2)}," \
              f"all --out compare/"
    if len(ranked) > 1:
        words = [f"{best.name} fits this data best by LogME ({best.logme:.3f}; next {ranked[1].name} "
                 f"{ranked[1].logme:.3f}): a linear probe on its frozen features reaches {best.probe_accuracy:.1%} "
                 "(cross-validated)."]
    else:
        words = [f"{best.name}'s frozen features: LogME {best.logme:.3f}, a linear probe reaches "
                 f"{best.probe_accuracy:.1%} (cross-validated); --backbones all ranks it against the others."]
    by_probe = max(ranked, key=lambda s: s.probe_accuracy)
    if by_probe is not best and by_probe.probe_accuracy - best.probe_accuracy > 0.01:
        words.append(f"The probes disagree: {by_probe.name}'s reaches {by_probe.probe_accuracy:.1%}; compare both "
                     f"with `headstart train {data} --backbone {by_probe.name}`.")
    words.append(f"Learning curve of {best.name}'s frozen features (a power law in {unit} per class, fitted to "
                 f"10-100 % subsets; 90 % intervals): {now.accuracy:.1%} expected at the {size} {unit} per class you "
                 f"have, {twice.accuracy:.1%} ({twice.low:.1%}-{twice.high:.1%}) at 2x and {tenfold.accuracy:.1%} "
                 f"({tenfold.low:.1%}-{tenfold.high:.1%}) at 10x.")
    gain, gain_far = twice.accuracy - now.accuracy, tenfold.accuracy - now.accuracy
    deeper = (f"`headstart train {data} --backbone {best.name} --strategy partial --time-budget 600` (a GPU helps) or "
              "`--strategy multilayer`" if ranking.task == "image" else
              f"`headstart train {data} --backbone minilm --strategy full` (a GPU helps)")
    if far_from_source and max(s.probe_accuracy for s in ranked) < LOW_PROBE and size >= MANY_IMAGES_PER_CLASS:
        words.append(f"Your data is far from every backbone's source (no probe reaches {LOW_PROBE:.0%}) and plentiful "
                     f"({size} per class): training from scratch is a serious candidate. Settle it with `{command}`.")
    elif gain >= WORTH_LABELLING:
        words.append(f"Label more data: doubling it is expected to add {100 * gain:.1f} points, 10x "
                     f"{100 * gain_far:.1f}.")
    elif gain_far >= SLOW_GAIN:
        words.append(f"More labels pay slowly ({100 * gain:+.1f} points at 2x, {100 * gain_far:+.1f} at 10x): "
                     f"fine-tuning deeper may be the cheaper next step. Try {deeper}.")
    elif now.accuracy < NEAR_CEILING:
        words.append(f"Fine-tune deeper rather than label more: 10x the data is expected to add only "
                     f"{100 * gain_far:.1f} points to the frozen features. Try {deeper}.")
    else:
        words.append(f"The frozen features are near the ceiling: 10x the data is expected to add "
                     f"{100 * gain_far:.1f} points; `--strategy frozen` is enough.")
    return words, command


def advise(data: str | Path | ImageSet | TextDataset, *, backbone: str | None = None,
           backbones: str | list[str] | None = None, in_chans: int = 3, weights: str | Path | None = None,
           sample_per_class: int = 30, seed: int = 0, probe: bool = True, can_fine_tune: bool | None = None,
           task: str = "auto", text_column: str = "text", label_column: str = "label",
           cache: bool | str | Path | EmbeddingCache = True, progress: bool = False) -> Advice:
    """Measure the data (a sample of ``sample_per_class`` images per class) and recommend a strategy.

    ``backbone``: the one to measure (default ``efficientnet_lite0``, or with ``backbones`` the top-ranked);
    ``backbones``: ``"all"`` or names to rank by LogME on every example's frozen features, with each one's probe
    accuracy, cost and learning curve, and the next step in words
    (texts are always ranked: ``backbones``, else ``backbone``, else ``"all"``: MiniLM and GloVe);
    ``weights``: a local weights file for ``backbone`` when it has no bundled weights (as ``--weights``);
    ``can_fine_tune``: see :func:`recommend` (default: whether this machine has a GPU);
    ``task``: ``image``, ``text`` or ``auto`` (from ``data``); ``text_column``/``label_column``: a text table's;
    ``cache``: the embedding cache the ranking's features and the sample's stage measurements are read from and
    written to (a second advice on the same images runs no network)."""
    validate({"in_chans": in_chans, "sample_per_class": sample_per_class, "seed": seed},
             {"in_chans": [POSITIVE_INT], "sample_per_class": [POSITIVE_INT], "seed": [SEED]})
    text = isinstance(data, TextDataset) or (
        not isinstance(data, ImageSet) and data_task(data, task, text_column=text_column) == "text")
    if text:
        texts = data if isinstance(data, TextDataset) else load_text_dataset(
            data, text_column=text_column, label_column=label_column)
        return _text_advice(texts, str(getattr(data, "source", data)), backbones or backbone or "all", cache, seed,
                            progress)
    if can_fine_tune is None:
        can_fine_tune = pick_device("auto").type != "cpu"
    images = data if isinstance(data, ImageSet) else check_images(find_images(data), in_chans=in_chans)
    store = open_cache(cache)
    ranking = None
    if backbones is not None:
        ranking = rank_backbones(images, backbones, task="image", in_chans=in_chans, seed=seed, cache=store,
                                 weights={backbone: weights} if backbone and weights else None, progress=progress)
    backbone = backbone or (ranking.best.name if ranking else "efficientnet_lite0")
    counts = list(images.class_counts().values())
    sample = _sample(images, sample_per_class, seed)
    network = load_backbone(backbone, in_chans=in_chans, weights=weights)
    shifts, features = stage_statistics(network, sample, features=probe, cache=store)
    probes = probe_accuracies(features, np.asarray(sample.labels), seed=seed) if probe else [None] * len(shifts)
    evidence = [StageEvidence(stage.name, shift, accuracy)
                for stage, shift, accuracy in zip(network.stages, shifts, probes)]
    advice = recommend(evidence, float(np.median(counts)), len(images.classes), backbone, can_fine_tune=can_fine_tune)
    if ranking:
        early = [s for s in shifts[: max(1, len(shifts) // 2)] if s is not None]
        advice.ranking = ranking
        advice.next_steps, advice.compare_command = next_steps(
            ranking, str(images.source), far_from_source=any(s > FAR_FROM_SOURCE for s in early))
    return advice


def _text_advice(texts: TextDataset, source: str, backbones: str | list[str], cache: bool | str | Path |
                 EmbeddingCache, seed: int, progress: bool) -> Advice:
    """Texts: no stages to measure, so the advice is the ranking of the text encoders and its next step."""
    ranking = rank_backbones(texts, backbones, task="text", cache=cache, seed=seed, progress=progress)
    best = ranking.best
    reasons = [f"Your data has {ranking.per_class:g} labelled texts per class (the median) in {ranking.num_classes} "
               "classes.",
               f"{best.name}'s frozen embeddings with a logistic-regression head (frozen, the default for texts) "
               f"reach {best.probe_accuracy:.1%} in cross-validation."]
    advice = Advice("frozen", None, 1e-3, None, ranking.per_class, ranking.num_classes, best.name, [], reasons,
                    ranking)
    advice.next_steps, advice.compare_command = next_steps(ranking, source, far_from_source=True)
    return advice
