"""Embedding extraction: batched, inference mode, channels-last, decoding overlapped with compute."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..backbones import Backbone
from ..data.dataset import ImageDataset, ImageSet, make_transform
from ..runtime import loader_workers, pick_device
from ..progress import progress_bar


def extract_embeddings(backbone: Backbone, images: ImageSet, *, batch_size: int = 64, device: str = "auto",
                       background: str = "white", progress: bool = True) -> np.ndarray:
    """Pooled backbone features ``(len(images), backbone.num_features)`` as float32."""
    target = pick_device(device)
    dataset = ImageDataset(images, make_transform(backbone.preprocessing, train=False), backbone.in_chans,
                           background)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=loader_workers(),
                        pin_memory=target.type == "cuda")
    backbone = backbone.eval().to(target, memory_format=torch.channels_last)
    chunks = []
    with torch.inference_mode(), progress_bar(len(images), "embedding", enabled=progress) as advance:
        for batch, _ in loader:
            batch = batch.to(target, memory_format=torch.channels_last, non_blocking=True)
            chunks.append(backbone(batch).float().cpu().numpy())
            advance(len(batch))
    return np.concatenate(chunks) if chunks else np.zeros((0, backbone.num_features), np.float32)
