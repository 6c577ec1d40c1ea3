"""`headstart compare` on real images: nested subsets, incremental results, resume, refusals, the report."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from html import escape as html_escape

import numpy as np
import pytest
from PIL import Image

from headstart.cli import main
from headstart.compare import compare, nested_subset, split_test
from headstart.compare.results import CSV_FIELDS
from headstart.data.dataset import find_images
from headstart.errors import ConfigError, DataError

GRID = dict(strategies="frozen,prototype,scratch", per_class="2,4", seeds=1, image_size=64, epochs=1,
            progress=False)


@pytest.fixture(scope="module")
def grid(fashion_small, tmp_path_factory):
    """One tiny compare: 3 strategies x 2 sizes x 1 seed on 3 classes (16 train, 8 test images each)."""
    train_dir, test_dir = fashion_small
    return compare(train_dir, test=test_dir, out=tmp_path_factory.mktemp("compare") / "out", **GRID)


def test_subsets_are_nested_stratified_and_seeded(fashion_small):
    pool = find_images(fashion_small[0])
    for seed in (0, 1):
        two, four, every = (set(nested_subset(pool, size, seed)) for size in (2, 4, "all"))
        assert two < four < every == set(range(len(pool)))
        assert pool.subset(sorted(four)).class_counts() == {"bag": 4, "sneaker": 4, "trouser": 4}
        assert set(nested_subset(pool, 4, seed)) == four  # drawn again: the same
    assert set(nested_subset(pool, 4, 0)) != set(nested_subset(pool, 4, 1))
    kept, test = split_test(pool, 0.25)
    assert test.class_counts() == {"bag": 4, "sneaker": 4, "trouser": 4} and len(kept) == 36
    assert split_test(pool, 0.25)[1].paths == test.paths and not set(kept.paths) & set(test.paths)


def test_every_run_is_recorded_in_csv_and_json(grid):
    stored = json.loads((grid.out / "results.json").read_text())
    with open(grid.out / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_FIELDS and len(rows) == len(stored["runs"]) == len(grid.runs) == 6
    assert grid.executed == 6 and grid.reused == 0
    runs = {(r["strategy"], r["per_class"]): r for r in stored["runs"]}
    assert set(runs) == {(s, n) for s in ("frozen", "prototype", "scratch") for n in (2, 4)}
    for run in stored["runs"]:
        assert 0 <= run["accuracy"] <= 1 and 0 <= run["macro_f1"] <= 1 and run["seconds"] > 0
        assert run["test_images"] == 24 and run["train_images"] == 3 * run["per_class"]
        assert run["images_per_second"] > 0 and run["image_size"] == 64
        assert np.array(run["confusion_matrix"]).sum() == 24
    assert runs["scratch", 4]["epochs_run"] == 1 and runs["frozen", 4]["epochs_run"] is None
    assert runs["scratch", 4]["trainable_parameters"] > runs["frozen", 4]["trainable_parameters"] > 0
    assert runs["prototype", 4]["trainable_parameters"] == 0
    assert max(runs["frozen", 4]["accuracy"], runs["prototype", 4]["accuracy"]) >= 0.8  # chance is 1/3
    assert stored["fingerprint"]["files"] == 48 + 24


def test_every_strategy_gets_the_same_subset(grid):
    digests = {(r["per_class"], r["strategy"]): r["subset_sha"] for r in grid.runs}
    for size in (2, 4):
        assert len({digests[size, s] for s in ("frozen", "prototype", "scratch")}) == 1
    assert digests[2, "frozen"] != digests[4, "frozen"]


def test_resume_runs_only_what_is_missing(grid, fashion_small, tmp_path):
    out = shutil.copytree(grid.out, tmp_path / "out")
    train_dir, test_dir = fashion_small
    with pytest.raises(ConfigError, match="--resume"):
        compare(train_dir, test=test_dir, out=out, **GRID)
    more = compare(train_dir, test=test_dir, out=out, resume=True, **{**GRID, "strategies": "prototype", "seeds": 2})
    assert (more.executed, more.reused) == (2, 2)  # prototype with seed 1 at both sizes
    assert len(json.loads((out / "results.json").read_text())["runs"]) == 8
    again = compare(train_dir, test=test_dir, out=out, resume=True, **GRID)
    assert (again.executed, again.reused) == (0, 6)


def test_auto_is_scored_beside_the_strategies_it_chooses_from(grid, fashion_small, tmp_path):
    out = shutil.copytree(grid.out, tmp_path / "out")
    train_dir, test_dir = fashion_small
    more = compare(train_dir, test=test_dir, out=out, resume=True, **{**GRID, "strategies": "auto", "per_class": "4"})
    assert (more.executed, more.reused) == (1, 0)
    auto = next(r for r in more.runs if r["strategy"] == "auto")
    frozen = next(r for r in more.runs if (r["strategy"], r["per_class"]) == ("frozen", 4))
    assert auto["advised_strategy"] == "multilayer"  # 4 per class, far from ImageNet: never fine-tune
    assert auto["chosen_strategy"] in ("frozen", "multilayer")  # whichever scored higher on the validation split
    assert auto["subset_sha"] == frozen["subset_sha"] and auto["accuracy"] >= 0.8
    with open(out / "results.csv", newline="") as handle:
        chosen = [row["chosen_strategy"] for row in csv.DictReader(handle) if row["strategy"] == "auto"]
    assert chosen == [auto["chosen_strategy"]]


def test_resume_refuses_changed_data(fashion_small, tmp_path):
    train_dir = shutil.copytree(fashion_small[0], tmp_path / "train")
    options = dict(GRID, strategies="prototype", per_class="2", out=tmp_path / "out")
    compare(train_dir, test=fashion_small[1], **options)
    extra = next((train_dir / "bag").glob("*.png"))
    shutil.copy(extra, extra.with_name("extra.png"))
    with pytest.raises(DataError, match="data changed") as error:
        compare(train_dir, test=fashion_small[1], resume=True, **options)
    assert "72 files then, 73 now" in str(error.value)


def test_bad_grids_are_refused_with_the_reason(fashion_small, tmp_path):
    train_dir, test_dir = fashion_small
    with pytest.raises(DataError) as error:
        compare(train_dir, test=test_dir, out=tmp_path, **{**GRID, "per_class": "4,20"})
    assert "--per-class 20 is more than class 'bag' has: 16 image(s)" in error.value.message
    assert "up to 16" in error.value.message
    with pytest.raises(DataError, match="after the test split"):
        compare(train_dir, out=tmp_path, test_fraction=0.5, **{**GRID, "per_class": "10"})
    with pytest.raises(DataError, match="leaves it no test images"):
        compare(train_dir, out=tmp_path, test_fraction=0.02, **GRID)
    with pytest.raises(ConfigError, match="unknown strategy 'linear'"):
        compare(train_dir, out=tmp_path, **{**GRID, "strategies": "frozen,linear"})
    assert not (tmp_path / "results.json").exists()


def test_report_holds_plots_and_a_summary_from_the_numbers(grid):
    for name in ("report.html", "learning_curves.png", "accuracy_vs_time.png", "confusion_matrix.png"):
        assert (grid.out / name).stat().st_size > 1000
    page = (grid.out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "src='learning" not in page
    four = {r["strategy"]: r for r in grid.table() if r["per_class"] == 4}
    best = max((four["frozen"], four["prototype"]), key=lambda r: r["accuracy_mean"])
    line = next(s for s in grid.summary if s.startswith("With 4 images per class"))
    assert f"`{best['strategy']}` beat `scratch`" in line or "trailed" in line
    assert f"{best['accuracy_mean']:.1%} vs {four['scratch']['accuracy_mean']:.1%}" in line
    assert line.split("`scratch`")[0].replace("`", "") in page.replace("<code>", "").replace("</code>", "")
    advice = json.loads((grid.out / "advice.json").read_text())  # what `headstart advise DATA --backbones` says
    assert [s["name"] for s in advice["ranking"]["scores"]] == ["efficientnet_lite0"]
    assert "Advice (<code>headstart advise --backbones</code>)" in page and "at 10× the data" in page
    assert html_escape(advice["next_steps"][-1]).split("`")[0] in page


def test_report_links_the_backbones_inspect_pictures(grid):
    page = (grid.out / "report.html").read_text()
    for name in ("filters.png", "feature_maps.png", "stage_probes.png"):
        assert (grid.out / "inspect" / name).stat().st_size > 1000
        assert f"href='inspect/{name}'" in page


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium",
                       shell=True, capture_output=True, timeout=900)
        found = shutil.which("chromium")
    return found


def test_report_renders_in_a_real_browser(grid, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed and could not be installed with apt-get (needs root and a mirror)")
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,1600",
                    (grid.out / "report.html").resolve().as_uri()], capture_output=True, timeout=120)
    assert shot.exists()
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape == (1600, 1200) and pixels.std() > 10  # text and plots, not a blank page
    assert (pixels < 128).mean() > 0.01


def test_cli_compare_resumes_the_same_grid(grid, fashion_small, tmp_path, capsys):
    out = shutil.copytree(grid.out, tmp_path / "out")
    train_dir, test_dir = fashion_small
    assert main(["--json", "compare", str(train_dir), "--test", str(test_dir), "--strategies",
                 "frozen,prototype,scratch", "--per-class", "2,4", "--seeds", "1", "--image-size", "64",
                 "--epochs", "1", "--resume", "--out", str(out)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["executed"], result["reused"]) == (0, 6) and result["report"].endswith("report.html")
    assert main(["compare", str(train_dir), "--per-class", "99", "--out", str(tmp_path / "x")]) == 1
    assert "--per-class 99 is more than class 'bag' has: 11 image(s)" in " ".join(capsys.readouterr().err.split())
