"""``headstart serve`` as a user meets it: a real server in a subprocess on a free loopback port, talked to over
HTTP, and its page driven by a real headless Chromium."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import headstart

SRC = Path(headstart.__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """Starts ``headstart serve MODEL ...`` and returns its base URL once ``/health`` answers."""
    started: list[subprocess.Popen] = []

    def start(model: Path, *options: str) -> str:
        port = free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
        log = (tmp_path / f"server-{port}.log").open("w")
        process = subprocess.Popen([sys.executable, "-m", "headstart.cli", "serve", str(model), "--port", str(port),
                                    *options], stdout=log, stderr=subprocess.STDOUT, env=env)
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the server exited: {(tmp_path / f'server-{port}.log').read_text()}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                time.sleep(0.5)
        pytest.fail("the server did not answer /health within 180 s")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def image_model(frozen_model):
    return frozen_model, headstart.load(frozen_model)


def _files(paths: list[Path]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (path.name, path.read_bytes())) for path in paths]


def test_predictions_over_http_equal_the_classifiers(image_model, start_server, fashion_small, photos):
    path, clf = image_model
    url = start_server(path)
    files = sorted(fashion_small[1].rglob("*.png"))[::3] + photos
    answer = httpx.post(f"{url}/predict", params={"k": 2}, files=_files(files), timeout=60)
    assert answer.status_code == 200
    predictions = answer.json()["predictions"]
    assert [p["file"] for p in predictions] == [f.name for f in files]
    assert [p["top_k"][0]["class"] for p in predictions] == clf.predict(files)
    expected = clf.predict_proba(files)
    for row, prediction in zip(expected, predictions):
        assert len(prediction["top_k"]) == 2
        for entry in prediction["top_k"]:
            assert abs(entry["probability"] - row[clf.classes_.index(entry["class"])]) < 1e-4
    raw = httpx.post(f"{url}/predict", content=photos[1].read_bytes(), headers={"Content-Type": "image/jpeg"})
    assert raw.json()["predictions"][0]["top_k"][0]["class"] == clf.predict([photos[1]])[0]
    card = httpx.get(f"{url}/model").json()
    assert card["classes"] == clf.classes_ and card["strategy"] == "frozen"
    assert card["backbone"] == "efficientnet_lite0"
    assert card["validation"]["val_accuracy"] == clf.training_["val_accuracy"]
    assert "<title>headstart</title>" in httpx.get(url).text
    assert httpx.get(f"{url}/static/app.js").status_code == 200


def test_requests_sent_together_each_get_their_own_answer(image_model, start_server, fashion_small):
    path, clf = image_model
    url = start_server(path)
    files = sorted(fashion_small[1].rglob("*.png"))
    expected = dict(zip((f.name for f in files), clf.predict(files)))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda f: httpx.post(f"{url}/predict", files=_files([f]), timeout=120), files * 2))
    for file, answer in zip(files * 2, answers):
        prediction = answer.json()["predictions"][0]
        assert prediction["file"] == file.name and prediction["top_k"][0]["class"] == expected[file.name]
    batches = httpx.get(f"{url}/model").json()["batches"]
    assert batches["inputs"] == 2 * len(files) and 1 <= batches["count"] <= batches["inputs"]


def test_a_taken_port_is_refused_before_the_model_loads(frozen_model, capsys):
    from headstart.cli import main

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert main(["serve", str(frozen_model), "--port", str(port)]) == 1
    assert "cannot listen" in capsys.readouterr().err


def test_bad_requests_get_a_4xx_naming_the_problem(image_model, start_server, photos):
    url = start_server(image_model[0], "--max-upload-mb", "1")
    jpeg = photos[1].read_bytes()
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1200, 1200, 3), np.uint8)).save(big, "PNG")
    cases = {
        "not an image": ({"files": [("files", ("notes.txt", b"just some words"))]}, 415, "not an image"),
        "corrupt image": ({"files": [("files", ("cut.jpg", jpeg[:len(jpeg) // 3]))]}, 422, "damaged or truncated"),
        "empty body": ({}, 400, "empty"),
        "empty file": ({"files": [("files", ("empty.jpg", b""))]}, 400, "empty"),
        "a text": ({"json": {"texts": ["a cat on a mat"]}}, 415, "image model"),
        "too large": ({"files": [("files", ("big.png", big.getvalue()))]}, 413, "larger than"),
        "form without files": ({"files": {"note": (None, b"hello")}}, 400, "no files"),
        "bad k": ({"files": _files(photos[:1]), "params": {"k": "many"}}, 422, "k"),
        "k out of range": ({"files": _files(photos[:1]), "params": {"k": 0}}, 422, "out of range"),
        "unknown type": ({"content": b"x=1", "headers": {"Content-Type": "text/csv"}}, 415, "text/csv"),
    }
    for name, (request, status, words) in cases.items():
        answer = httpx.post(f"{url}/predict", timeout=60, **request)
        assert answer.status_code == status, (name, answer.text)
        assert words in answer.json()["error"], (name, answer.json())
    assert httpx.get(f"{url}/health").json()["status"] == "ok"  # still serving


def test_a_text_model_is_served_from_json(bbc_tfidf, start_server):
    path, clf, texts = bbc_tfidf
    url = start_server(path)
    answer = httpx.post(f"{url}/predict", json={"texts": texts}, params={"k": 1}, timeout=60)
    assert [p["top_k"][0]["class"] for p in answer.json()["predictions"]] == clf.predict(texts)
    for request, status in (({"json": {"texts": []}}, 422), ({"json": {"texts": [3]}}, 422),
                            ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
                            ({"files": [("files", ("a.png", b"png"))]}, 415)):
        assert httpx.post(f"{url}/predict", **request).status_code == status
    assert httpx.get(f"{url}/model").json()["task"] == "text"


@pytest.fixture(scope="module")
def bbc_tfidf(tmp_path_factory):
    from headstart.data.text import TextDataset
    from headstart.text.classifier import TextClassifier

    texts = ["the striker scored twice in the cup final", "shares fell as the bank cut its profit forecast",
             "the goalkeeper saved a penalty in the derby", "the central bank raised interest rates again",
             "a late goal won the league title", "markets rallied after strong quarterly earnings"] * 3
    labels = ["sport", "business"] * 9
    clf = TextClassifier(strategy="scratch", progress=False).fit(TextDataset(texts, labels, ["business", "sport"],
                                                                             "toy"))
    return clf.save(tmp_path_factory.mktemp("text-model") / "model.pt"), clf, ["a goal in the final", "bank profit"]


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium and chromium-driver "
                                                "(apt-get install chromium chromium-driver)")
def test_the_page_shows_the_top_class_of_an_uploaded_photo(image_model, start_server, photos, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    path, clf = image_model
    url = start_server(path)
    browser, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1200,900",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#card-classes li"))
        assert [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#card-classes li")] == clf.classes_
        driver.find_element(By.ID, "files").send_keys(str(photos[1]))
        shown = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .top-class"))
        assert shown[0].text == clf.predict([photos[1]])[0]
        assert len(driver.find_elements(By.CSS_SELECTOR, "#results .bar")) == min(3, len(clf.classes_))
        screenshot = tmp_path / "page.png"
        driver.save_screenshot(str(screenshot))
    finally:
        driver.quit()
    pixels = np.asarray(Image.open(screenshot).convert("RGB")).astype(np.float32)
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100  # not blank
