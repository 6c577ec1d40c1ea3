"""Backbones: a registry name -> pretrained network (images) or text encoder, with preprocessing and stages."""

from .network import Backbone, Stage
from .registry import REGISTRY, TASKS, list_backbones, load_backbone, load_source_model, resolve_spec
from .spec import BackboneSpec, Preprocessing
from .text import (TEXT_REGISTRY, SentenceTransformerEncoder, TextEncoder, TextEncoderSpec, WordVectorEncoder,
                   list_text_encoders, load_text_encoder)

__all__ = ["Backbone", "BackboneSpec", "Preprocessing", "REGISTRY", "SentenceTransformerEncoder", "Stage", "TASKS",
           "TEXT_REGISTRY", "TextEncoder", "TextEncoderSpec", "WordVectorEncoder", "list_backbones",
           "list_text_encoders", "load_backbone", "load_source_model", "load_text_encoder", "resolve_spec"]
