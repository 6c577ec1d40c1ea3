"""Backbones: a registry name -> pretrained network, preprocessing and stages."""

from .network import Backbone, Stage
from .registry import REGISTRY, list_backbones, load_backbone, load_source_model, resolve_spec
from .spec import BackboneSpec, Preprocessing

__all__ = ["Backbone", "BackboneSpec", "Preprocessing", "REGISTRY", "Stage", "list_backbones",
           "load_backbone", "load_source_model", "resolve_spec"]
