"""Commands that list what is there: ``backbones`` and the embedding ``cache``."""

from __future__ import annotations

import argparse
from typing import Any

from .output import console, print_backbones, print_cache


def add_backbones(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("backbones", help="list the image and text backbones and where their weights come from")
    p.set_defaults(run=backbones)


def backbones(args: argparse.Namespace) -> list[dict[str, Any]]:
    from ..backbones import list_backbones

    rows = list_backbones()
    if not args.json:
        print_backbones(rows)
    return rows


def add_cache(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("cache", help="show or clear the embedding cache")
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--dir", help="cache folder (default: $HEADSTART_CACHE or ~/.cache/headstart)")
    p.set_defaults(run=cache)


def cache(args: argparse.Namespace) -> dict[str, Any]:
    from ..features import EmbeddingCache

    store = EmbeddingCache(args.dir)
    if args.action == "clear":
        result = {"root": str(store.root), "freed_bytes": store.clear()}
        if not args.json:
            console.print(f"cleared {store.root} ({result['freed_bytes'] / 1e6:.1f} MB freed)")
        return result
    info = store.info()
    if not args.json:
        print_cache(info)
    return info
