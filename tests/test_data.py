"""Data discovery, image modes and every bad input's clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import headstart
from headstart.data.dataset import ImageSet, check_images, find_images, stratified_split
from headstart.data.images import load_image
from headstart.data.text import TextDataset


def _folder(root: Path, counts: dict[str, int]) -> Path:
    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def test_rgba_is_composited_onto_white_not_black(tmp_path):
    pixels = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(pixels, "RGBA").save(tmp_path / "clear.png")
    assert np.asarray(load_image(tmp_path / "clear.png")).min() == 255
    assert np.asarray(load_image(tmp_path / "clear.png", background="black")).max() == 0


def test_palette_with_transparency_and_16_bit_gray(tmp_path):
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0] * 256)
    palette.info["transparency"] = 0
    palette.save(tmp_path / "p.png", transparency=0)
    assert np.asarray(load_image(tmp_path / "p.png")).min() == 255
    sixteen = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    sixteen.save(tmp_path / "g16.png")
    assert np.asarray(load_image(tmp_path / "g16.png", in_chans=1)).min() == 255
    assert load_image(tmp_path / "g16.png").mode == "RGB"


def test_stratified_split_is_seeded_and_keeps_every_class(tmp_path):
    images = find_images(_folder(tmp_path, {"a": 10, "b": 5, "c": 5}))
    train, val = stratified_split(images, 0.3, seed=1)
    again, _ = stratified_split(images, 0.3, seed=1)
    assert train.paths == again.paths
    assert set(val.labels) == {0, 1, 2} and set(train.labels) == {0, 1, 2}
    assert not set(train.paths) & set(val.paths)


def test_images_and_texts_with_the_same_labels_split_into_the_same_indices():
    names = ["b", "a", "c", "a", "b", "a", "c", "b", "a", "c", "b", "a", "a", "b"]
    classes = sorted(set(names))
    images = ImageSet([Path(f"{i}.png") for i in range(len(names))], [classes.index(n) for n in names], classes, "x")
    texts = TextDataset([f"text {i}" for i in range(len(names))], names, classes, "x.csv")
    for seed in (0, 1, 2):
        image_train, image_val = stratified_split(images, 0.3, seed)
        text_train, text_val = stratified_split(texts, 0.3, seed)
        assert [int(p.stem) for p in image_val.paths] == [int(t.split()[1]) for t in text_val.texts]
        assert [int(p.stem) for p in image_train.paths] == [int(t.split()[1]) for t in text_train.texts]
        assert image_val.label_names() == text_val.labels and set(text_val.labels) == set(classes)


def test_csv_with_relative_paths(tmp_path):
    _folder(tmp_path / "imgs", {"a": 2, "b": 2})
    rows = ["path,label"] + [f"imgs/{c}/{i}.png,{c}" for c in "ab" for i in range(2)]
    (tmp_path / "data.csv").write_text("\n".join(rows))
    images = find_images(tmp_path / "data.csv")
    assert images.classes == ["a", "b"] and len(images) == 4


@pytest.mark.parametrize("case, expected", [
    ("missing", "does not exist"),
    ("empty", "no class folders"),
    ("empty_class", "holds no images"),
    ("single_class", "only one class"),
    ("split_folders", "look like a dataset's splits"),
    ("csv_missing_files", "do not exist"),
    ("csv_no_label", "label column"),
])
def test_bad_data_gets_a_clear_error(tmp_path, case, expected):
    if case == "missing":
        target = tmp_path / "nope"
    elif case == "empty":
        target = tmp_path / "empty"
        target.mkdir()
    elif case == "empty_class":
        target = _folder(tmp_path / "d", {"a": 2})
        (target / "b").mkdir()
    elif case == "single_class":
        target = _folder(tmp_path / "d", {"a": 3})
    elif case == "split_folders":  # root/train/<class>, root/test/<class> passed as the root
        target = tmp_path / "d"
        _folder(target / "train", {"a": 2, "b": 2})
        _folder(target / "test", {"a": 1, "b": 1})
    elif case == "csv_missing_files":
        target = tmp_path / "d.csv"
        target.write_text("path,label\nx.png,a\ny.png,b\n")
    else:
        _folder(tmp_path, {"a": 1})
        target = tmp_path / "d.csv"
        target.write_text("path,category\na/0.png,a\n")
    with pytest.raises(headstart.DataError) as error:
        find_images(target)
    assert expected in error.value.message
    assert error.value.path and error.value.fix


def test_corrupt_and_non_image_files_are_skipped_and_reported_or_fail_with_strict(tmp_path):
    root = _folder(tmp_path, {"a": 3, "b": 3})
    (root / "a" / "notes.txt").write_text("not an image")
    good = (root / "b" / "0.png").read_bytes()
    (root / "b" / "truncated.png").write_bytes(good[: len(good) // 2])
    (root / "a" / "fake.jpg").write_bytes(b"this is no jpeg")
    images = check_images(find_images(root))
    assert len(images) == 6
    reasons = dict(images.skipped)
    assert "not an image file" in reasons[str(root / "a" / "notes.txt")]
    assert "unreadable image" in reasons[str(root / "b" / "truncated.png")]
    assert str(root / "a" / "fake.jpg") in reasons
    with pytest.raises(headstart.DataError, match="unreadable"):
        check_images(find_images(root), strict=True)


def test_foreign_and_damaged_model_files_get_a_clear_error(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("hello")
    for name, expected in [("other.pt", "not a headstart model"), ("text.pt", "not a headstart model"),
                           ("missing.pt", "no such model file")]:
        with pytest.raises(headstart.BundleError, match=expected):
            headstart.load(tmp_path / name)


def test_class_folder_whose_images_are_all_unreadable(tmp_path):
    root = _folder(tmp_path, {"a": 3})
    (root / "b").mkdir()
    (root / "b" / "bad.png").write_bytes(b"garbage")
    with pytest.raises(headstart.DataError, match="no readable images left"):
        check_images(find_images(root))
    shutil.rmtree(root / "b")
