"""Every option two or more commands take, defined once: its flags, type, default, choices and help.

A command lists the ones it takes (``add(parser, DATA, BACKBONE, ...)``); options of one command stay beside it.
Nothing here imports torch, so ``headstart --help`` stays instant.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from ..data.text import TASKS
from ..distributed import DISTRIBUTED
from ..features.names import ENGINES, PRECISIONS


@dataclass(frozen=True)
class Option:
    """One argument as ``parser.add_argument(*flags, **settings)`` takes it."""

    flags: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)


def option(*flags: str, **settings: Any) -> Option:
    """An :class:`Option` from ``add_argument``'s own arguments."""
    return Option(flags, settings)


def add(parser: argparse.ArgumentParser, *options: Option) -> None:
    """Add ``options`` to ``parser``, in order."""
    for one in options:
        parser.add_argument(*one.flags, **one.settings)


def given(**values: Any) -> dict[str, Any]:
    """The values set on the command line, ``None`` ones left out so the Python API's defaults apply."""
    return {name: value for name, value in values.items() if value is not None}


MODEL = option("model", help="model.pt, or the --out folder that holds it")
DATA = option("data", help="labelled images (class folders root/<class>/<image>, or a CSV with path,label) or texts "
                           "(CSV/TSV/JSONL with text,label columns, or class folders of .txt)")

BACKBONE = option("--backbone", help="registry name; see `headstart backbones` (default: efficientnet_lite0 for "
                                     "images, minilm for texts)")
WEIGHTS = option("--weights", help="local weights file for a backbone without bundled weights")
IN_CHANS = option("--in-chans", type=int, default=3, help="input channels: 1 grayscale, 3 RGB, 4 RGBA")
IMAGE_SIZE = option("--image-size", type=int,
                    help="input resolution (default: the backbone's for frozen/multilayer/prototype/knn and partial, "
                         "whose frozen stages run once per image; for full/scratch twice the images' own, at least "
                         "64, at most the backbone's)")
BACKGROUND = option("--background", default="white", help="colour for transparent pixels")
STRICT = option("--strict", action="store_true", help="fail on unreadable images instead of skipping them")
EPOCHS = option("--epochs", type=int, help="trained strategies: epochs (default: from the data size)")
SEED = option("--seed", type=int, default=0, help="seeds the split, the sample, initialisation and data order")

ENGINE = option("--engine", default="auto", choices=ENGINES,
                help="embedding engine for frozen/multilayer/prototype/knn (auto: ONNX Runtime on CPU)")
PRECISION = option("--precision", default=PRECISIONS[0], choices=PRECISIONS, help="embedding precision")
TTA = option("--tta", action="store_true",
             help="average embeddings with the mirrored image's (part of the embedding cache key)")
NO_CACHE = option("--no-cache", action="store_true", help="do not read or write the embedding cache (exported "
                  "ONNX graphs are still kept there)")

ACCELERATOR = option("--accelerator", default="auto", choices=["auto", "cpu", "gpu"],
                     help="where to run (auto: a GPU when there is one)")
DEVICES = option("--devices", type=int, default=1,
                 help="processes per machine, one per GPU: data-parallel training (--batch-size per process) and "
                      "embedding split over them; started here, or by torchrun/srun (see the README)")
NUM_NODES = option("--num-nodes", type=int, default=1, help="machines, each started by torchrun or srun")
DISTRIBUTED_STRATEGY = option("--distributed", default="auto", choices=DISTRIBUTED,
                              help="Lightning strategy with more than one process (auto: ddp; fsdp shards the model)")
PLACEMENT = (ACCELERATOR, DEVICES, NUM_NODES)

TASK = option("--task", choices=TASKS, default="auto",
              help="what DATA holds (default: detected; a table with a text column, or folders of .txt, is text)")
TEXT_COLUMN = option("--text-column", default="text", help="texts: the column holding the text")
LABEL_COLUMN = option("--label-column", default="label", help="the column holding the class name")
TEXT_TABLE = (TASK, TEXT_COLUMN, LABEL_COLUMN)
