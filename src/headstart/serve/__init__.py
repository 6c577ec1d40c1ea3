"""``headstart serve``: a model behind an HTTP API and a web page (FastAPI + uvicorn)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np

from ..errors import ConfigError


def serve(model: str | Path, *, host: str = "127.0.0.1", port: int = 8000, max_upload_mb: float = 20.0,
          max_batch: int = 32, announce: bool = True) -> None:
    """Load ``model`` once and answer HTTP on ``host:port`` until interrupted."""
    import uvicorn

    from ..inference import Predictor
    from .app import create_app

    if max_upload_mb <= 0:
        raise ConfigError(f"--max-upload-mb must be positive, got {max_upload_mb}.", fix="Pass e.g. 20.")
    if max_batch < 1:
        raise ConfigError(f"--max-batch must be at least 1, got {max_batch}.", fix="Pass e.g. 32, or 1 for none.")
    _check_free(host, port)
    predictor = Predictor(model)
    if predictor.task == "image":  # the first run of a session allocates; do it before the first request
        size = predictor.card()["input"]
        predictor.predict_pixels(np.zeros((1, *size["center_crop"][::-1], size["channels"]), np.uint8))
    app = create_app(predictor, max_upload_bytes=int(max_upload_mb * 2 ** 20), max_batch=max_batch)
    if announce:
        print(f"serving {model} ({predictor.task}, {len(predictor.classes)} classes) on http://{host}:{port}/",
              flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _check_free(host: str, port: int) -> None:
    """Refuse a taken or unknown address before spending seconds on loading the model."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port} ({error.strerror or error}).",
                          fix="Pass another --port (or stop what is using it), or a --host of this machine.") from None


__all__ = ["serve"]
