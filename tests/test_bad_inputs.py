"""The catalogue of bad inputs and faults (issue 15): each case exits as promised, names the file or option
and the fix, prints no traceback, and leaves no half-written output behind.

Most cases run the CLI in-process (``main([...])``); the ones that need a process of their own (kill -9, a
closed pipe, a full or read-only disk in a private mount namespace) run ``python -m headstart.cli``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import headstart
from headstart.cli import main
from headstart.data.dataset import ImageSet, check_images, find_images
from headstart.data.images import load_image
from headstart.features import EmbeddingCache, extract_embeddings

REPO = Path(__file__).resolve().parents[1]
FASHION = REPO / "examples" / "fashion-mnist-mini"
PYTHON = sys.executable


def cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    """Run ``headstart ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


def run(*argv: object, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    """Run ``python -m headstart.cli ARGV`` in its own process."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run([PYTHON, "-m", "headstart.cli", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def data(tmp_path_factory, fashion_small) -> Path:
    """A private copy of three Fashion-MNIST classes, 16 images each (tests may add bad files to copies)."""
    return Path(shutil.copytree(fashion_small[0], tmp_path_factory.mktemp("bad") / "data"))


@pytest.fixture(scope="module")
def model(tmp_path_factory, data) -> Path:
    """A prototype model of ``data`` (embeddings only: seconds)."""
    out = tmp_path_factory.mktemp("model") / "m"
    assert main(["--json", "train", str(data), "--strategy", "prototype", "--out", str(out)]) == 0
    return out


def copy_data(data: Path, target: Path) -> Path:
    return Path(shutil.copytree(data, target))


# ------------------------------------------------------------------------------------------------ data errors
@pytest.mark.parametrize("case", ["missing", "empty", "loose", "single_class", "empty_class", "csv_missing_files",
                                  "csv_no_label", "not_csv"])
def test_unusable_data_is_refused_naming_the_file_and_the_fix(case, tmp_path, data, capsys):
    image = next((data / "bag").iterdir())
    target = tmp_path / "data"
    if case == "empty":
        target.mkdir()
    elif case == "loose":
        target.mkdir()
        shutil.copy(image, target / "a.png")
    elif case in ("single_class", "empty_class"):
        (target / "bag").mkdir(parents=True)
        shutil.copy(image, target / "bag" / "a.png")
        if case == "empty_class":
            (target / "coat").mkdir()
    elif case.startswith("csv"):
        target = tmp_path / "list.csv"
        shutil.copy(image, tmp_path / "a.png")
        rows = "path,label\na.png,bag\ngone.png,coat\n" if case == "csv_missing_files" else "path,kind\na.png,bag\n"
        target.write_text(rows)
    elif case == "not_csv":
        target = tmp_path / "data.txt.gz"
        target.write_bytes(b"\x1f\x8b")
    expected = {"missing": "does not exist", "empty": "no class folders", "loose": "holds images directly",
                "single_class": "only one class", "empty_class": "holds no images",
                "csv_missing_files": "gone.png", "csv_no_label": "has no label column named 'label'",
                "not_csv": "not a CSV"}[case]
    code, out, err = cli(capsys, "train", target, "--strategy", "prototype", "--out", tmp_path / "out")
    message = _one_line(err)
    assert code == 1 and expected in message and "Fix:" in message
    assert str(target) in message or str(target / "coat") in message
    assert not (tmp_path / "out").exists()


def test_a_semicolon_csv_is_read_with_its_delimiter(tmp_path, data, capsys):
    rows = ["path;label"] + [f"{p};{p.parent.name}" for p in sorted(data.glob("*/*.png"))]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    assert len(find_images(tmp_path / "list.csv")) == len(rows) - 1
    (tmp_path / "bad.csv").write_text("picture;kind\nx.png;bag\n")
    code, _, err = cli(capsys, "train", tmp_path / "bad.csv", "--out", tmp_path / "out")
    assert code == 1 and "semicolon (';') delimiter" in _one_line(err) and "has no image path column" in err


def test_unreadable_files_are_skipped_and_listed_or_fail_with_strict(tmp_path, data, capsys):
    root = copy_data(data, tmp_path / "data")
    good = next((root / "bag").iterdir()).read_bytes()
    (root / "bag" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "bag" / "empty.jpg").write_bytes(b"")
    (root / "trouser" / "renamed.png").write_bytes(b"%PDF-1.4 not an image")
    (root / "trouser" / "notes.txt").write_text("not an image")
    code, out, err = cli(capsys, "train", root, "--strategy", "prototype", "--out", tmp_path / "out")
    assert code == 0
    skipped = {Path(s["file"]).name for s in json.loads((tmp_path / "out" / "metrics.json").read_text())["skipped"]}
    assert skipped == {"truncated.png", "empty.jpg", "renamed.png", "notes.txt"}
    assert "skipped 4 file(s)" in err and "truncated.png" in err
    code, _, err = cli(capsys, "train", root, "--strict", "--strategy", "prototype", "--out", tmp_path / "strict")
    assert code == 1 and "--strict" in err and not (tmp_path / "strict").exists()


def test_non_utf8_names_and_symlink_loops_do_not_stop_training(tmp_path, data, capsys):
    root = copy_data(data, tmp_path / "data")
    image = next((root / "bag").iterdir())
    os.rename(image, os.path.join(os.fsencode(root / "bag"), b"caf\xe9-latin1.png"))  # not valid UTF-8
    (root / "bag" / "loop").symlink_to(root / "bag", target_is_directory=True)
    found = find_images(root)
    assert len(found) == 48 and b"caf\xe9-latin1.png" in {os.fsencode(p.name) for p in found.paths}  # each once
    code, out, err = cli(capsys, "train", root, "--strategy", "prototype", "--out", tmp_path / "out")
    assert code == 0 and "skipped" not in err, err


def test_predict_on_only_unreadable_images_names_the_file_and_the_reason(tmp_path, model, capsys):
    (tmp_path / "photos").mkdir()
    broken = tmp_path / "photos" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, _, err = cli(capsys, "predict", model, tmp_path / "photos")
    message = _one_line(err)
    assert code == 1 and str(broken) in message and "unreadable image" in message and "only image" in message


def test_odd_image_modes_and_names_decode(tmp_path):
    rgb = np.asarray(Image.open(next((FASHION / "train" / "bag").iterdir())).convert("RGB").resize((40, 30)))
    base = Image.fromarray(rgb)
    files = {"cmyk.jpg": base.convert("CMYK"), "palette.gif": base.convert("P"),
             "gray16.png": Image.fromarray((np.asarray(base.convert("L")).astype(np.uint16) * 257)),
             "rgba.png": base.convert("RGBA"), "naïve ünïcode 名前.png": base}
    for name, image in files.items():
        image.save(tmp_path / name)
        assert load_image(tmp_path / name).size == (40, 30), name


# --------------------------------------------------------------------------- orientation and large images
def _sideways(path: Path, upright: Image.Image) -> None:
    """``upright`` stored rotated a quarter turn, with the EXIF tag that says how to turn it back."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif)


def test_exif_orientation_is_applied_wherever_images_are_decoded(tmp_path, lite0):
    upright = Image.open(next((FASHION / "train" / "ankle_boot").iterdir())).convert("RGB").resize((64, 48))
    upright.save(tmp_path / "upright.png")
    _sideways(tmp_path / "sideways.png", upright)
    assert Image.open(tmp_path / "sideways.png").size == (48, 64)  # stored sideways
    assert np.array_equal(np.asarray(load_image(tmp_path / "sideways.png")), np.asarray(upright))
    pair = ImageSet([tmp_path / "upright.png", tmp_path / "sideways.png"], [0, 0], ["x"], str(tmp_path))
    features = extract_embeddings(lite0, pair, cache=None, progress=False)
    np.testing.assert_allclose(features[0], features[1], atol=1e-5)


def test_oversize_images_are_skipped_with_a_reason_and_large_ones_decode_without_pillows_warning(
        tmp_path, data, monkeypatch, capsys):
    root = copy_data(data, tmp_path / "data")
    Image.new("RGB", (120, 100), "red").save(root / "bag" / "huge.png")  # 12,000 px
    Image.new("RGB", (40, 30), "blue").save(root / "bag" / "large.png")  # 1,200 px
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # warns above 1,000 px, refuses above 2,000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would fail the run
        checked = check_images(find_images(root))
    reasons = dict(checked.skipped)
    assert list(reasons) == [str(root / "bag" / "huge.png")] and "too large" in reasons[str(root / "bag" / "huge.png")]


def test_a_large_jpeg_is_decoded_reduced_but_never_below_twice_the_size_needed(tmp_path):
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 255, (2000, 3000, 3), dtype=np.uint8))
    photo.save(tmp_path / "photo.jpg", quality=90)
    reduced = load_image(tmp_path / "photo.jpg", min_side=256)
    assert min(reduced.size) >= 512 and reduced.size[0] < 3000
    assert load_image(tmp_path / "photo.jpg").size == (3000, 2000)


# ------------------------------------------------------------------------------------------------- options
@pytest.mark.parametrize("flag, value", [
    ("--epochs", "-1"), ("--batch-size", "-5"), ("--batch-size", "0"), ("--lr", "0"), ("--lr", "-1"), ("--lr", "nan"),
    ("--val-fraction", "1.5"), ("--image-size", "4"), ("--time-budget", "-3"), ("--in-chans", "0"), ("--seed", "-1")])
def test_out_of_range_training_options_are_refused_before_any_work(flag, value, tmp_path, data, capsys):
    code, _, err = cli(capsys, "train", data, "--strategy", "frozen", flag, value, "--out", tmp_path / "out")
    message = _one_line(err)
    assert code == 1 and f"({flag}) must be" in message and f"got {value}" in message.replace(".0;", ";")
    assert "Fix:" in message and not (tmp_path / "out").exists()


def test_other_commands_validate_their_numbers_the_same_way(tmp_path, data, model, capsys):
    image = next((data / "bag").iterdir())
    for argv, flag in [(["predict", model, image, "--top-k", "0"], "--top-k"),
                       (["advise", data, "--sample-per-class", "0"], "--sample-per-class"),
                       (["compare", data, "--seeds", "0", "--out", tmp_path / "cmp"], "--seeds"),
                       (["compare", data, "--test-fraction", "1", "--out", tmp_path / "cmp"], "--test-fraction")]:
        code, _, err = cli(capsys, *argv)
        assert code == 1 and f"({flag}) must be" in err, argv
    assert not (tmp_path / "cmp").exists()


def test_the_python_api_gives_the_same_message(data):
    with pytest.raises(headstart.ConfigError, match=r"lr \(--lr\) must be a number in the range \(0, inf\); got -1"):
        headstart.ImageClassifier(lr=-1).fit(data)
    with pytest.raises(headstart.ConfigError, match=r"batch_size \(--batch-size\) must be an int"):
        headstart.TextClassifier(batch_size=0).fit(data)


# ---------------------------------------------------------------------------------------------------- --out
def test_out_naming_a_file_or_a_pt_file_is_refused_before_training(tmp_path, data, capsys):
    (tmp_path / "taken").write_text("someone's file")
    for out, expected in [(tmp_path / "taken", "exists and is a file"),
                          (tmp_path / "taken" / "sub", "which is a file"),
                          (tmp_path / "model.pt", "not the model file")]:
        code, _, err = cli(capsys, "train", data, "--strategy", "prototype", "--out", out)
        message = _one_line(err)
        assert code == 1 and expected in message and "--out" in message.split("Fix:")[1], out
    assert (tmp_path / "taken").read_text() == "someone's file" and not (tmp_path / "model.pt").exists()


def _private_mount() -> str | None:
    """Why a private tmpfs cannot be mounted here (``unshare -rm``), or ``None`` if it can."""
    if not shutil.which("unshare"):
        return "unshare is not installed"
    # over /tmp, which every system has, in a mount namespace of its own: hidden from nothing else
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /tmp"],
                           capture_output=True, text=True)
    return None if probe.returncode == 0 else f"cannot mount a private tmpfs: {probe.stderr.strip()}"


def _in_private_tmpfs(mount: Path, options: str, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` (sh) with a fresh tmpfs mounted at ``mount`` that only this command sees."""
    mount.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "PY": PYTHON}
    return subprocess.run(["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o {options} tmpfs {mount} && {script}"],
                          capture_output=True, text=True, env=env, timeout=600)


def test_out_on_a_read_only_disk_is_refused_before_training(tmp_path, data):
    if why := _private_mount():
        pytest.skip(why)
    result = _in_private_tmpfs(tmp_path / "ro", "ro,size=1m",
                               f'"$PY" -m headstart.cli train {data} --strategy frozen --out {tmp_path}/ro/model')
    assert result.returncode == 1, result.stderr
    message = _one_line(result.stderr)
    assert f"{tmp_path}/ro/model" in message and "cannot be written" in message and "Read-only" in message
    assert "Traceback" not in result.stderr and not list((tmp_path / "ro").iterdir())  # (outside the namespace)


def test_a_full_disk_at_save_keeps_the_previous_model_and_the_new_one_elsewhere(tmp_path, data, model):
    if why := _private_mount():
        pytest.skip(why)
    size = (model / "model.pt").stat().st_size
    script = (f'cp -r {model} {tmp_path}/full/out && "$PY" -m headstart.cli train {data} --strategy knn '
              f'--out {tmp_path}/full/out; echo "rc=$?"; "$PY" -c "import headstart; '
              f"print('previous', headstart.load('{tmp_path}/full/out').strategy_.name)\"; ls -a {tmp_path}/full/out")
    result = _in_private_tmpfs(tmp_path / "full", f"size={size + size // 4}", script)
    message = _one_line(result.stderr)
    assert "rc=1" in result.stdout and "Traceback" not in result.stderr, result.stderr
    assert "the disk is full" in message and "It was kept in" in message
    assert "previous prototype" in result.stdout  # the old bundle is whole and unchanged
    assert ".tmp" not in result.stdout  # no temporary file left
    rescued = Path(message.split("It was kept in ")[1].split(":")[0])
    assert headstart.load(rescued).strategy_.name == "knn"
    rescued.unlink()


def test_a_full_disk_while_writing_the_cache_is_a_plain_message(tmp_path, data):
    if why := _private_mount():
        pytest.skip(why)
    result = _in_private_tmpfs(tmp_path / "cache", "size=512k",
                               f'HEADSTART_CACHE={tmp_path}/cache "$PY" -m headstart.cli train {data} '
                               f'--strategy prototype --out {tmp_path}/out')
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    message = _one_line(result.stderr)
    assert "the disk is full" in message and f"{tmp_path}/cache" in message and "Fix:" in message
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ the cache
@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_shape", "nan", "inf", "wrong_dtype"])
def test_a_damaged_cache_entry_is_computed_again(damage, lite0, data, tmp_path):
    images = find_images(data).subset(range(4))
    cache = EmbeddingCache(tmp_path / "cache")
    fresh = extract_embeddings(lite0, images, cache=cache, progress=False)
    entry = next(iter(sorted((tmp_path / "cache" / "embeddings").glob("*/*/*.npy"))))
    good = np.load(entry)
    if damage == "garbage":
        entry.write_bytes(os.urandom(300))
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:200])
    else:
        bad = {"wrong_shape": good[:100], "nan": np.where(np.arange(len(good)) == 7, np.nan, good),
               "inf": np.where(np.arange(len(good)) == 7, np.inf, good),
               "wrong_dtype": good.astype(np.float64)}[damage].astype(np.float64 if damage == "wrong_dtype"
                                                                       else np.float32)
        np.save(entry, bad)
    again = extract_embeddings(lite0, images, cache=cache, progress=False)
    np.testing.assert_array_equal(again, fresh)
    np.testing.assert_array_equal(np.load(entry), good)  # and the entry is whole again


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_exported_graph_is_exported_again(damage, lite0, data, tmp_path):
    images = find_images(data).subset(range(3))
    cache = EmbeddingCache(tmp_path / "cache")
    fresh = extract_embeddings(lite0, images, cache=cache, engine="onnx", progress=False)
    graph = next((tmp_path / "cache" / "graphs").glob("*.onnx"))
    whole = graph.read_bytes()
    graph.write_bytes({"garbage": os.urandom(1000), "truncated": whole[: len(whole) // 2], "empty": b""}[damage])
    cache.clear(keep_graphs=True)
    again = extract_embeddings(lite0, images, cache=cache, engine="onnx", progress=False)
    np.testing.assert_allclose(again, fresh, atol=1e-5)
    assert graph.stat().st_size == len(whole)


def test_kill_9_while_embedding_then_rerun_finishes_with_whole_entries(tmp_path):
    root = tmp_path / "data"
    for name in ("bag", "coat", "sandal"):
        shutil.copytree(FASHION / "train" / name, root / name)  # 120 images
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HEADSTART_CACHE": str(cache)}
    argv = [PYTHON, "-m", "headstart.cli", "train", str(root), "--strategy", "prototype", "--out", str(tmp_path / "o")]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 240
    while not list(cache.glob("embeddings/*/*/*.npy")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # entries are written batch by batch, as they are embedded
    os.killpg(process.pid, signal.SIGKILL)  # the CLI and its decode workers, mid-embedding
    assert process.wait() == -signal.SIGKILL
    assert not (tmp_path / "o" / "model.pt").exists()
    done = len(list(cache.glob("embeddings/*/*/*.npy")))
    assert 0 < done < 120  # what the killed run embedded is kept, so the rerun embeds only the rest
    for leftover in cache.rglob(".*.tmp"):  # a write the kill cut short, never read; once stale, swept
        os.utime(leftover, (time.time() - 2 * 3600,) * 2)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(list(cache.glob("embeddings/*/*/*.npy"))) == 120
    assert not [p for p in cache.rglob("*.tmp")]
    assert headstart.load(tmp_path / "o").classes_ == ["bag", "coat", "sandal"]


def test_a_killed_trainings_checkpoint_folder_is_removed_by_the_next_training(tmp_path, fashion_small,
                                                                             monkeypatch):
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    dead = subprocess.Popen([PYTHON, "-c", "pass"])
    dead.wait()
    orphan = tmp_path / f"headstart-ckpt-{dead.pid}-abc123"
    orphan.mkdir()
    (orphan / "epoch=0.ckpt").write_bytes(b"\0" * 1000)
    headstart.ImageClassifier(strategy="partial", freeze=6, image_size=32, epochs=1, batch_size=16, progress=False,
                              accelerator="cpu").fit(fashion_small[0], val=fashion_small[1])
    assert not orphan.exists()
    assert not list(tmp_path.glob("headstart-ckpt-*"))  # and its own folder is gone too


# ------------------------------------------------------------------------------------------- bundles, weights
def test_damaged_and_foreign_model_files_are_refused(tmp_path, model, capsys):
    whole = (model / "model.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(whole[: len(whole) // 3])
    import torch

    torch.save({"conv.weight": torch.zeros(2)}, tmp_path / "foreign.pt")
    image = next((FASHION / "test" / "bag").iterdir())
    for name, expected in [("truncated.pt", "damaged"), ("foreign.pt", "not a headstart model"),
                           ("absent.pt", "no such model file")]:
        code, _, err = cli(capsys, "predict", tmp_path / name, image)
        assert code == 1 and expected in err and str(tmp_path / name) in _one_line(err), name


def test_weights_file_reaches_advise_under_the_default_auto_strategy(tmp_path, data, capsys):
    import timm
    import torch

    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), tmp_path / "r18.pth")
    code, _, err = cli(capsys, "train", data, "--backbone", "resnet18", "--out", tmp_path / "out")
    assert code == 1 and "--weights" in err  # without weights offline: the way out is named
    code, out, err = cli(capsys, "--json", "train", data, "--backbone", "resnet18", "--weights", tmp_path / "r18.pth",
                         "--out", tmp_path / "out")
    assert code == 0, err
    assert json.loads(out)["advice"]["backbone"] == "resnet18"
    code, out, err = cli(capsys, "--json", "advise", data, "--backbone", "resnet18", "--weights", tmp_path / "r18.pth",
                         "--sample-per-class", "4")
    assert code == 0 and json.loads(out)["strategy"] in ("frozen", "multilayer"), err  # 4 per class: no fine-tuning


# --------------------------------------------------------------------------------------- duplicates, leakage
def test_duplicates_label_conflicts_and_leakage_are_reported(tmp_path, data, model, fashion_small, capsys):
    root = copy_data(data, tmp_path / "data")
    bag = sorted((root / "bag").iterdir())
    shutil.copy(bag[0], root / "bag" / "copy.png")  # same class
    shutil.copy(bag[1], root / "trouser" / "also-a-bag.png")  # label conflict
    code, out, err = cli(capsys, "train", root, "--strategy", "prototype", "--out", tmp_path / "out")
    message = _one_line(err)
    assert code == 0 and "exact copies of another image of the same class" in message and "copy.png" in message
    assert "label conflict" in message and "also-a-bag.png" in message
    assert len(json.loads((tmp_path / "out" / "metrics.json").read_text())["warnings"]) == 2
    code, out, err = cli(capsys, "--json", "evaluate", model, data)  # the training images themselves
    report = json.loads(out)
    assert code == 0 and "48 of the 48 evaluation images" in report["warnings"][0]
    assert "not a test on unseen images" in report["warnings"][0]
    code, out, err = cli(capsys, "--json", "evaluate", model, fashion_small[1])  # unseen images
    assert code == 0 and json.loads(out)["warnings"] == []


def test_resized_copies_are_reported_as_near_duplicates_and_distinct_images_are_not(tmp_path, data, capsys):
    root = copy_data(data, tmp_path / "data")
    bag = sorted((root / "bag").iterdir())
    code, out, err = cli(capsys, "--json", "train", root, "--strategy", "prototype", "--out", tmp_path / "clean")
    assert code == 0 and json.loads(out)["warnings"] == []  # 48 distinct images: no pair looks alike
    Image.open(bag[2]).resize((56, 56), Image.BICUBIC).save(root / "bag" / "bigger.png")  # same class
    Image.open(bag[3]).resize((56, 56), Image.BICUBIC).save(root / "trouser" / "bag-in-trousers.png")
    code, out, err = cli(capsys, "--json", "train", root, "--strategy", "prototype", "--out", tmp_path / "out")
    warnings = json.loads(out)["warnings"]
    assert code == 0 and len(warnings) == 2, warnings
    assert "1 pair(s)" in warnings[0] and "look like copies" in warnings[0] and "bigger.png" in warnings[0]
    assert "labelled differently" in warnings[1] and "bag-in-trousers.png" in warnings[1]
    assert "'bag' and 'trouser'" in warnings[1] or "'trouser' and 'bag'" in warnings[1]


def test_compare_warns_when_its_test_set_shares_images_with_the_training_pool(tmp_path, data, fashion_small):
    test = copy_data(fashion_small[1], tmp_path / "test")
    shutil.copy(next((data / "bag").iterdir()), test / "bag" / "leaked.png")
    result = headstart.compare(data, test=test, strategies="prototype", per_class=[2], seeds=1, out=tmp_path / "cmp",
                               progress=False)
    leak = "1 of the 25 test images"
    assert any(leak in line and "leaked.png" in line for line in result.summary)
    assert leak in json.loads((tmp_path / "cmp" / "results.json").read_text())["data"]["warnings"][0]


# -------------------------------------------------------------------------------------------------- output
def test_piped_output_keeps_whole_names_and_a_closed_pipe_is_quiet():
    listing = run("backbones")
    assert listing.returncode == 0
    for name in ("efficientnet_lite0", "efficientnet_lite2", "vit_small_patch16_224", "sentence-transformers"):
        assert name in listing.stdout, name
    for argv in (["--json", "backbones"], ["backbones"]):
        process = subprocess.Popen([PYTHON, "-m", "headstart.cli", *argv], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        process.stdout.close()  # like `| head` that has read enough
        err = process.stderr.read().decode()
        process.wait(120)
        assert process.returncode != 0 and "Traceback" not in err and "Error" not in err, err


def test_help_and_import_load_nothing_heavy():
    code = ("import sys, contextlib, io; import headstart; from headstart.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try: main(['--help'])\n"
            "    except SystemExit: pass\n"
            "print(sorted(m for m in ('torch', 'timm', 'sklearn', 'lightning', 'transformers') if m in sys.modules))\n"
            "print(headstart.ImageClassifier.__name__, headstart.load.__name__)\n"
            "import headstart.compare.runner  # the subpackage named like the function\n"
            "print(callable(headstart.compare), headstart.compare.__module__)")
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=120)
    assert result.stdout.splitlines() == ["[]", "ImageClassifier load", "True headstart.compare.runner"], result.stderr


def test_drawing_and_training_leave_the_process_settings_as_they_were(tmp_path, fashion_small):
    """A notebook's matplotlib backend and the user's Lightning log levels are theirs: headstart draws without
    pyplot and quiets Lightning only while it trains."""
    code = ("import logging, sys, matplotlib\n"
            "from pathlib import Path\n"
            "import lightning.pytorch  # which sets its own level to INFO when imported\n"
            "logging.getLogger('lightning.pytorch').setLevel(logging.DEBUG)\n"
            "from headstart import ImageClassifier, load_backbone\n"
            "from headstart.analysis.inspect import first_layer_filters\n"
            "first_layer_filters(load_backbone('efficientnet_lite0'), Path(sys.argv[2]) / 'filters.png')\n"
            "ImageClassifier(strategy='full', epochs=1, image_size=32, progress=False).fit(sys.argv[1])\n"
            "print(matplotlib.get_backend(), logging.getLogger('lightning.pytorch').level)")
    result = subprocess.run([PYTHON, "-c", code, str(fashion_small[0]), str(tmp_path)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO / "src"),
                                                         "MPLBACKEND": "svg"})
    assert result.stdout.split() == ["svg", str(logging.DEBUG)], result.stderr[-2000:]
    assert (tmp_path / "filters.png").read_bytes()[:4] == b"\x89PNG"


def test_auto_advice_is_one_paragraph_with_consistent_numbers():
    from headstart.analysis import StageEvidence, recommend
    from headstart.analysis.advise import advice_paragraph

    stages = [StageEvidence(f"blocks.{i}", 0.5, 0.6) for i in range(8)]
    advice = recommend(stages, 29.5, 12, "efficientnet_lite0")
    paragraph = advice_paragraph(advice.reasons)
    assert ".;" not in paragraph and ". ;" not in paragraph and "stage 0" not in paragraph
    assert "29.5 labelled images per class" in paragraph and "fewer than 30" in paragraph
    assert "from stage 1 (blocks.0) on" in paragraph
    assert all(sentence[0].isupper() for sentence in advice.reasons)


# ---------------------------------------------------------------------------------------------------- texts
@pytest.fixture(scope="module")
def texts(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("texts")
    rows = ["text,label"] + [f"the striker scored a goal in match {i},sport" for i in range(6)] + \
        [f"the central bank raised interest rates in quarter {i},business" for i in range(6)] + \
        ['"' + " ".join(["goal"] * 600) + '",sport']  # longer than MiniLM reads
    (folder / "news.csv").write_text("\n".join(rows) + "\n")
    return folder / "news.csv"


@pytest.fixture(scope="module")
def text_model(tmp_path_factory, texts) -> tuple[Path, str]:
    """A MiniLM prototype model, and what training it printed on stderr."""
    out = tmp_path_factory.mktemp("text-model") / "m"
    result = run("train", texts, "--strategy", "prototype", "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result.stderr


def test_text_training_output_is_headstarts_own_and_notes_cut_texts(text_model):
    _, err = text_model
    assert "Loading weights" not in err
    assert "1 text(s) longer than the encoder reads were cut" in _one_line(err)


def test_evaluate_on_a_text_model_counts_texts(text_model, texts, capsys):
    code, out, _ = cli(capsys, "evaluate", text_model[0], texts)
    assert code == 0 and "(13 texts)" in out and "images" not in out


def test_inspect_refuses_a_text_model_before_creating_anything(text_model, tmp_path, capsys):
    code, _, err = cli(capsys, "inspect", text_model[0], "--out", tmp_path / "pictures")
    assert code == 1 and "is a text model" in err and "Fix:" in err
    assert not (tmp_path / "pictures").exists()


def test_duplicate_texts_label_conflicts_and_text_leakage_are_reported(tmp_path, texts, text_model, capsys):
    rows = texts.read_text().splitlines()
    rows += ["the striker  scored a goal in\tmatch 0,sport",  # the same words as row 1, spaced differently
             "the central bank raised interest rates in quarter 1,sport"]  # a business text labelled sport
    (tmp_path / "news.csv").write_text("\n".join(rows) + "\n")
    code, out, err = cli(capsys, "--json", "train", tmp_path / "news.csv", "--strategy", "scratch",
                         "--out", tmp_path / "out")
    warnings = json.loads(out)["warnings"]
    assert code == 0 and len(warnings) == 2, warnings
    assert "1 text(s)" in warnings[0] and "exact copies of another text of the same class" in warnings[0]
    assert "text 1 ('the striker scored a goal in match 0')" in warnings[0]
    assert "label conflict" in warnings[1] and "'business' and 'sport'" in warnings[1]
    code, out, _ = cli(capsys, "--json", "evaluate", text_model[0], texts)  # its own training texts
    assert code == 0 and "13 of the 13 evaluation texts" in json.loads(out)["warnings"][0]
    unseen = tmp_path / "unseen.csv"
    unseen.write_text("text,label\nthe keeper saved a penalty,sport\nshares fell on the stock market,business\n")
    code, out, _ = cli(capsys, "--json", "evaluate", text_model[0], unseen)
    assert code == 0 and json.loads(out)["warnings"] == []
