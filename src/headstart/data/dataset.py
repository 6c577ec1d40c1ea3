"""Finding labelled images (ImageFolder or CSV), checking them, splitting and loading them."""

from __future__ import annotations

import csv
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import median
from typing import Callable, ClassVar, Sequence

import torch
from PIL import Image
from timm.data import create_transform

from ..backbones.spec import Preprocessing
from ..errors import DataError
from .delimited import describe_delimiter, sniff_delimiter
from .labelled import inverse_frequency_weights, stratified_split  # noqa: F401 (the split of images lived here)
from .images import IMAGE_EXTENSIONS, OversizeImageError, is_image_file, load_image

PATH_COLUMNS = ("path", "image", "file", "filename", "filepath")


@dataclass
class ImageSet:
    """Labelled image files. ``labels[i]`` indexes ``classes``; ``skipped`` lists (file, reason)."""

    paths: list[Path]
    labels: list[int]
    classes: list[str]
    source: str
    skipped: list[tuple[str, str]] = field(default_factory=list)
    noun: ClassVar[str] = "image"

    def __len__(self) -> int:
        return len(self.paths)

    def label_names(self) -> list[str]:
        return [self.classes[i] for i in self.labels]

    def subset(self, indices: Sequence[int]) -> "ImageSet":
        return replace(self, paths=[self.paths[i] for i in indices], labels=[self.labels[i] for i in indices],
                       skipped=[])

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}


def find_images(data: str | Path, *, classes: Sequence[str] | None = None,
                label_column: str = "label") -> ImageSet:
    """Labelled images from an ImageFolder (``root/<class>/<image>``) or a CSV (``path,label``).

    Args:
        data: the folder or CSV file.
        classes: the class names a trained model knows; labels outside them are an error.
        label_column: the CSV column holding the class name.
    """
    root = Path(data)
    if not root.exists():
        raise DataError("does not exist.", path=root,
                        fix="Pass a folder of class subfolders (root/<class>/<image>) or a CSV with path,label.")
    found = _from_csv(root, label_column) if root.is_file() else _from_folder(root)
    pairs, skipped = found
    names = sorted({label for _, label in pairs})
    if classes is None:
        if len(names) < 2:
            raise DataError(f"only one class ({names[0]!r}) found; a classifier needs at least two.", path=root,
                            fix="Add a folder (or CSV rows) for each other class.")
        classes = names
    else:
        unknown = sorted(set(names) - set(classes))
        if unknown:
            raise DataError(f"classes {unknown} are not among the model's classes {list(classes)}.", path=root,
                            fix="Evaluate on data labelled with the classes the model was trained on.")
    index = {name: i for i, name in enumerate(classes)}
    return ImageSet([p for p, _ in pairs], [index[label] for _, label in pairs], list(classes), str(root), skipped)


SPLIT_FOLDER_NAMES = {"train", "training", "test", "testing", "val", "valid", "validation", "dev"}


def _from_folder(root: Path) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        loose = [p for p in root.iterdir() if p.is_file() and is_image_file(p)]
        hint = " (it holds images directly: put them into one subfolder per class)" if loose else ""
        raise DataError(f"no class folders found{hint}.", path=root,
                        fix="Arrange the images as root/<class>/<image>, or pass a CSV with path,label columns.")
    splits = [d for d in class_dirs if d.name.lower() in SPLIT_FOLDER_NAMES and any(c.is_dir() for c in d.iterdir())]
    if splits and len(splits) == len(class_dirs):
        named = ", ".join(d.name for d in splits)
        training = next((d for d in splits if d.name.lower() in ("train", "training")), splits[0])
        raise DataError(f"its folders ({named}) look like a dataset's splits, each holding class folders, not classes.",
                        path=root, fix=f"Pass the training split as the data ({training}), and the other "
                                       "split to --val, or to `headstart evaluate` afterwards.")
    pairs: list[tuple[Path, str]] = []
    skipped: list[tuple[str, str]] = []
    for class_dir in class_dirs:
        files = sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
        images = [p for p in files if is_image_file(p)]
        skipped += [(str(p), f"not an image file (extension {p.suffix or 'none'})") for p in files
                    if not is_image_file(p)]
        if not images:
            raise DataError(f"class folder {class_dir.name!r} holds no images "
                            f"(looked for {', '.join(sorted(IMAGE_EXTENSIONS))}).", path=class_dir,
                            fix="Add images to it or remove the folder.")
        pairs += [(p, class_dir.name) for p in images]
    return pairs, skipped


def _from_csv(path: Path, label_column: str) -> tuple[list[tuple[Path, str]], list[tuple[str, str]]]:
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise DataError("is a file but not a CSV.", path=path,
                        fix="Pass a folder of class subfolders or a CSV file with path,label columns.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            delimiter = sniff_delimiter(handle.readline(), path)
            handle.seek(0)
            reader = csv.DictReader(handle, delimiter=delimiter)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot be read as CSV ({error}).", path=path, fix="Save it as UTF-8 CSV.") from None
    path_column = next((c for c in columns if c.strip().lower() in PATH_COLUMNS), None)
    if path_column is None or label_column not in columns:
        missing = (f"no image path column (one named {', '.join(PATH_COLUMNS)})" if path_column is None
                   else f"no label column named {label_column!r}")
        raise DataError(f"has {missing}; read with the {describe_delimiter(delimiter)} delimiter, its columns are "
                        f"{columns}.", path=path,
                        fix="Name the columns path,label (or pass --label-column NAME), separated by commas.")
    pairs, missing_files = [], []
    for row in rows:
        file = Path(row[path_column])
        file = file if file.is_absolute() else path.parent / file
        (pairs if file.is_file() else missing_files).append((file, (row[label_column] or "").strip()))
    if missing_files:
        examples = ", ".join(str(p) for p, _ in missing_files[:3])
        raise DataError(f"{len(missing_files)} of {len(rows)} listed images do not exist (e.g. {examples}).",
                        path=path, fix="Paths are read relative to the CSV's folder; correct or remove those rows.")
    if not pairs:
        raise DataError("lists no images.", path=path, fix="Add rows of path,label.")
    unlabelled = [str(p) for p, label in pairs if not label]
    if unlabelled:
        raise DataError(f"{len(unlabelled)} rows have an empty label (e.g. {unlabelled[0]}).", path=path,
                        fix="Give every row a class name in the label column.")
    return pairs, []


def check_images(images: ImageSet, *, in_chans: int = 3, strict: bool = False, workers: int = 4,
                 known_readable: Sequence[bool] | None = None) -> ImageSet:
    """Decode every image once; unreadable ones are skipped and reported (or fail with ``strict``).

    ``known_readable`` marks images already decoded successfully before (e.g. their content is in
    the embedding cache); those are not decoded again.
    """
    known = set() if known_readable is None else {p for p, ok in zip(images.paths, known_readable) if ok}

    def problem(path: Path) -> str | None:
        if path in known:
            return None
        try:
            load_image(path, in_chans, min_side=1)  # a JPEG is decoded at 1/8 scale: every byte read, 64x faster
        except OversizeImageError as error:
            return f"{error}; downscale it to use it"
        except Exception as error:  # PIL raises many types for corrupt, truncated or foreign files
            return f"unreadable image ({type(error).__name__}: {error})"
        return None

    with ThreadPoolExecutor(workers) as pool:
        problems = list(pool.map(problem, images.paths))
    bad = [(str(p), reason) for p, reason in zip(images.paths, problems) if reason]
    if bad and strict:
        raise DataError(f"{bad[0][1]}; {len(bad)} unreadable image(s) in all.", path=bad[0][0],
                        fix="Remove or replace the file, or drop --strict to skip unreadable images.")
    keep = [i for i, reason in enumerate(problems) if reason is None]
    if not images.paths:
        raise DataError("no images.", path=images.source, fix="Pass image files or folders of images.")
    if not keep:
        more = f"none of the {len(bad)} images is readable" if len(bad) > 1 else "it is the only image"
        raise DataError(f"{bad[0][1]}; {more}.", path=bad[0][0],
                        fix="Replace it with a readable image (JPEG, PNG, BMP, GIF, TIFF, WebP, PPM/PGM).")
    checked = replace(images.subset(keep), skipped=images.skipped + bad)
    before, after = images.class_counts(), checked.class_counts()
    emptied = [name for name in images.classes if before[name] > 0 and after[name] == 0]
    if emptied:
        raise DataError(f"class {emptied[0]!r} has no readable images left.", path=images.source,
                        fix="Replace that class's unreadable images.")
    return checked


def class_weights(images: ImageSet) -> torch.Tensor:
    """Inverse-frequency weights (``n / (k * count)``), 1.0 on balanced data."""
    return torch.tensor(inverse_frequency_weights(images.labels, len(images.classes)), dtype=torch.float32)


def native_size(images: ImageSet, sample: int = 32) -> int:
    """The median longer side, in pixels, of up to ``sample`` evenly spaced images (headers only)."""
    step = max(1, len(images) // sample)
    sides = []
    for path in images.paths[::step][:sample]:
        with Image.open(path) as image:
            sides.append(max(image.size))
    return int(median(sides))


def trained_image_size(native: int, backbone_size: int) -> int:
    """Input side for strategies that train the network: twice the images' own, at least 64, at most the
    backbone's. 28-px images need not be upscaled to 224 to be learned, and training costs the square of it."""
    return min(backbone_size, max(64, 2 * native))


def make_transform(preprocessing: Preprocessing, *, train: bool) -> Callable:
    """The backbone's evaluation transform, or a light augmentation of it for training."""
    common = dict(input_size=preprocessing.image_size, interpolation=preprocessing.interpolation,
                  mean=preprocessing.mean, std=preprocessing.std)
    if not train:
        return create_transform(**common, crop_pct=preprocessing.crop_pct)
    jitter = 0.2 if preprocessing.in_chans == 3 else 0.0
    return create_transform(**common, is_training=True, scale=(0.5, 1.0), hflip=0.5, color_jitter=jitter)


def make_pixel_transform(preprocessing: Preprocessing) -> Callable:
    """The evaluation resize and crop only, giving a uint8 ``(C, H, W)`` tensor: the conversion to
    float and the normalisation run inside the inference engine (see ``features.engine.FromPixels``),
    which keeps decode workers light and batches four times smaller."""
    return create_transform(input_size=preprocessing.image_size, interpolation=preprocessing.interpolation,
                            mean=preprocessing.mean, std=preprocessing.std, crop_pct=preprocessing.crop_pct,
                            use_prefetcher=True)


def decode_side(preprocessing: Preprocessing) -> int:
    """The shorter side the evaluation transform resizes to before its centre crop."""
    return int(preprocessing.image_size / preprocessing.crop_pct)


class ImageDataset(torch.utils.data.Dataset):
    """``(tensor, label)`` pairs from an :class:`ImageSet`, decoded on access (large JPEGs reduced while
    decoding to no less than twice ``min_side``)."""

    def __init__(self, images: ImageSet, transform: Callable, in_chans: int = 3, background: str = "white", *,
                 min_side: int | None = None):
        self.images = images
        self.transform = transform
        self.in_chans = in_chans
        self.background = background
        self.min_side = min_side

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> Image.Image:
        """Image ``index`` decoded, before the transform."""
        return load_image(self.images.paths[index], self.in_chans, self.background, min_side=self.min_side)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.load(index)), self.images.labels[index]
