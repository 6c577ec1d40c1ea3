"""``headstart embed``: fill the embedding cache for a large image set before ``train``, split over processes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .. import distributed as dist
from ..backbones import load_backbone
from ..data.dataset import check_images, find_images
from ..errors import ConfigError
from ..strategies import FEATURE_KINDS, extraction_stage
from ..validation import POSITIVE_INT, validate
from .cache import open_cache
from .extract import fill_cache


def embed(data: str | Path, *, backbone: str = "efficientnet_lite0", features: str = "pooled", in_chans: int = 3,
          weights: str | Path | None = None, engine: str = "auto", precision: str = "fp32", tta: bool = False,
          background: str = "white", batch_size: int = 64, cache: bool | str | Path = True,
          accelerator: str = "auto", devices: int = 1, num_nodes: int = 1, progress: bool = True) -> dict[str, Any]:
    """Embed every image of ``data`` the cache lacks, as ``train`` with the same options would, the images split
    over ``devices`` × ``num_nodes`` processes (torchrun, srun, or re-run by Lightning's launcher).

    ``features``: ``pooled`` (``frozen``, ``prototype``, ``knn``) or ``blocks`` (``multilayer`` and ``auto``).
    Returns counts: ``images``, ``cached_before``, ``embedded``, ``embedded_per_rank``, and the embedding's
    ``seconds`` and ``images_per_second`` (decoding included, start-up and the readability check not).
    """
    validate({"in_chans": in_chans, "batch_size": batch_size, "devices": devices, "num_nodes": num_nodes},
             {"in_chans": [POSITIVE_INT], "batch_size": [POSITIVE_INT], "devices": [POSITIVE_INT],
              "num_nodes": [POSITIVE_INT]})
    if features not in FEATURE_KINDS:
        raise ConfigError(f"unknown features {features!r}.", fix=f"Pass --features {' or --features '.join(FEATURE_KINDS)}.")
    store = open_cache(cache)
    if store is None:
        raise ConfigError("embed fills the embedding cache, and cache=False turns it off.",
                          fix="Leave the cache on, or pass cache=FOLDER (HEADSTART_CACHE) to fill another one.")
    dist.join(accelerator=accelerator, devices=devices, num_nodes=num_nodes, distributed="ddp")
    found = find_images(data)
    # Each rank decodes its share to find unreadable files (what was embedded before is known to decode).
    share = list(dist.shard(len(found)))
    known = store.embedded_before([found.paths[i] for i in share])
    checked = check_images(found.subset(share), in_chans=in_chans, known_readable=known)
    readable = {path for part in dist.gather([str(p) for p in checked.paths]) for path in part}
    skipped = list(found.skipped) + [item for part in dist.gather(list(checked.skipped)) for item in part]
    images = found.subset([i for i, path in enumerate(found.paths) if str(path) in readable])
    network = load_backbone(backbone, in_chans=in_chans, weights=weights)
    started = time.perf_counter()
    counts = fill_cache(network, images, store, batch_size=batch_size, device="cpu" if accelerator == "cpu" else "auto",
                        engine=engine, precision=precision, stage=extraction_stage(features), tta=tta,
                        background=background, progress=progress and dist.is_main())
    per_rank = dist.gather(counts["embedded"])  # also waits for every rank, so the time is the whole job's
    seconds = time.perf_counter() - started
    return {"images": counts["images"], "cached_before": counts["cached_before"], "embedded": sum(per_rank),
            "embedded_per_rank": per_rank,
            "seconds": seconds, "images_per_second": sum(per_rank) / max(seconds, 1e-9), "skipped": [{"file": str(f), "reason": r} for f, r in skipped],
            "backbone": backbone, "features": features, "cache": str(store.root)}
