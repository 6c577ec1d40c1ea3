"""What ``headstart advise DATA --backbones BACKBONE`` says about the compared data, kept beside the results for
the report's advice section (ranking, learning curve, next step)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import write_text_atomically

ADVICE_FILE = "advice.json"


def write_advice(data: str | Path, out: Path, *, backbone: str, task: str, cache: Path, resume: bool,
                 text_column: str = "text", label_column: str = "label") -> dict[str, Any]:
    """Advise on ``data`` with ``backbone`` (embeddings through ``cache``) into ``out/advice.json``, unless
    resuming and it is there already; return the advice as a dict."""
    from ..analysis import advise

    path = Path(out) / ADVICE_FILE
    if resume and path.exists():
        return json.loads(path.read_text())
    advice = advise(data, backbone=backbone if task == "image" else None, backbones=[backbone], task=task,
                    text_column=text_column, label_column=label_column, cache=cache).to_dict()
    write_text_atomically(path, json.dumps(advice, indent=2))
    return advice
