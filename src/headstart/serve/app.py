"""The HTTP API and web page of ``headstart serve``, on FastAPI.

``POST /predict`` takes images (multipart form files, or one image as the raw body) or ``{"texts": [...]}``
and answers the top-k classes; ``GET /model`` the model card; ``GET /health``; ``GET /`` the page. Every bad
request is answered with a 4xx JSON ``{"error", "file", "fix"}``; the model is loaded once and requests that
arrive together are batched through its one :class:`~headstart.inference.Predictor`.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, AsyncIterator

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ..errors import ConfigError, HeadstartError, NotAnImageError
from ..inference import Predictor
from .batcher import MicroBatcher

MAX_TOP_K = 100
DRAIN = 64 * 2 ** 20  # bytes of an over-limit upload still read, so that its sender gets the 413


class RequestError(HeadstartError):
    """A request the API cannot take, with the HTTP status that says why."""

    def __init__(self, problem: str, *, status: int, fix: str, path: str | None = None):
        super().__init__(problem, path=path, fix=fix)
        self.status = status


def _status(error: HeadstartError) -> int:
    if isinstance(error, RequestError):
        return error.status
    if isinstance(error, NotAnImageError):
        return 415
    return 400 if isinstance(error, ConfigError) else 422


def create_app(predictor: Predictor, *, max_upload_bytes: int = 20 * 2 ** 20, max_batch: int = 32) -> FastAPI:
    """The application serving ``predictor``; uploads above ``max_upload_bytes`` are refused with 413."""
    run = (lambda items: predictor.predict_pixels(np.stack(items))) if predictor.task == "image" else \
        predictor.predict_texts
    batcher = MicroBatcher(run, max_batch=max_batch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(title="headstart", lifespan=lifespan, docs_url=None, redoc_url=None)
    static = resources.files("headstart.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.exception_handler(HeadstartError)
    async def headstart_error(request: Request, error: HeadstartError) -> JSONResponse:
        return JSONResponse({"error": error.problem, "file": error.path, "fix": error.fix}, status_code=_status(error))

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg')}", "file": None,
                             "fix": "Pass k as a whole number, e.g. /predict?k=3."}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail), "file": None, "fix": None}, status_code=error.status_code)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "task": predictor.task, "classes": len(predictor.classes)}

    @app.get("/model")
    async def model() -> dict[str, Any]:
        return {**predictor.card(), "max_upload_mb": round(max_upload_bytes / 2 ** 20, 3),
                "batches": {"count": batcher.batches, "inputs": batcher.inputs}}

    @app.post("/predict")
    async def predict(request: Request, k: int = 3) -> dict[str, Any]:
        if not 1 <= k <= MAX_TOP_K:
            raise RequestError(f"k={k} is out of range.", status=422, fix=f"Pass k from 1 to {MAX_TOP_K}.")
        await _read_body(request, max_upload_bytes)
        if predictor.task == "text":
            texts = await _texts(request)
            rows = predictor.top_k(await batcher.submit(texts), k)
            return {"predictions": [{"text": text[:200], "top_k": _ranked(row)} for text, row in zip(texts, rows)]}
        uploads = await _images(request)
        pixels = await run_in_threadpool(predictor.pixels, [data for _, data in uploads], [n for n, _ in uploads])
        rows = predictor.top_k(await batcher.submit(list(pixels)), k)
        return {"predictions": [{"file": name, "top_k": _ranked(row)} for (name, _), row in zip(uploads, rows)]}

    return app


def _ranked(row: list[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"class": name, "probability": probability} for name, probability in row]


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body; 413 when it passes ``limit`` bytes, 400 when there is none.

    An over-limit body is still read (and dropped) up to :data:`DRAIN` bytes more before the answer, so a client
    still sending it sees the 413 rather than a connection closed mid-upload.
    """
    too_large = RequestError(f"the upload is larger than the server's limit of {limit / 2 ** 20:g} MB.", status=413,
                             fix="Send smaller or fewer images, or start the server with a larger --max-upload-mb.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + DRAIN:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + DRAIN:
            break
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise too_large
    body = b"".join(chunks)
    if not body:
        raise RequestError("the request body is empty.", status=400,
                           fix="Send images as multipart/form-data files, one image as the body, or "
                               "{\"texts\": [...]} as JSON for a text model.")
    request._body = body  # starlette then parses the form from the bytes already read
    return body


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _images(request: Request) -> list[tuple[str, bytes]]:
    media = _media_type(request)
    if media == "multipart/form-data":
        form = await request.form(max_files=1000)
        files = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        if not files:
            raise RequestError("the form holds no files.", status=400,
                               fix="Attach images as file fields, e.g. curl -F file=@photo.jpg.")
        uploads = [(upload.filename or f"file {number}", await upload.read()) for number, upload in enumerate(files)]
        for name, data in uploads:
            if not data:
                raise RequestError("is empty (0 bytes).", status=400, path=name, fix="Attach the image's contents.")
        return uploads
    if media == "application/json":
        raise RequestError("this is an image model; it cannot classify texts.", status=415,
                           fix="Send images as multipart/form-data (curl -F file=@photo.jpg).")
    if media.startswith("image/") or media in ("application/octet-stream", ""):
        return [("body", await request.body())]
    raise RequestError(f"cannot read a {media} body as images.", status=415,
                       fix="Send images as multipart/form-data, or one image with Content-Type image/*.")


async def _texts(request: Request) -> list[str]:
    media = _media_type(request)
    if media != "application/json":
        raise RequestError(f"this is a text model; a {media or 'untyped'} body holds no texts.", status=415,
                           fix="Send JSON: {\"texts\": [\"first text\", ...]}.")
    try:
        document = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestError(f"the body is not valid JSON ({error}).", status=400,
                           fix="Send JSON: {\"texts\": [\"first text\", ...]}.") from None
    texts = document.get("texts") if isinstance(document, dict) else None
    if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
        raise RequestError("expected {\"texts\": [...]} with one or more strings.", status=422,
                           fix="Send JSON: {\"texts\": [\"first text\", ...]}.")
    return texts
