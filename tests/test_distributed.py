"""More than one process on one machine (CPU, gloo): data-parallel training, embedding split over ranks, a rank that
dies. Each test starts real processes (headstart's own launcher, or torchrun) on the repo's Fashion-MNIST sample."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import FASHION, copy_subset

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finds and kills ranks through /proc")
CLASSES = ["trouser", "bag", "sneaker", "ankle_boot"]


@pytest.fixture(scope="module")
def fashion_four(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Four Fashion-MNIST classes: 40 training and 20 test images each."""
    root = tmp_path_factory.mktemp("fashion-four")
    return copy_subset(FASHION / "train", root / "train", CLASSES, 40), copy_subset(FASHION / "test", root / "test",
                                                                                    CLASSES, 20)


def _env(tmp_path: Path) -> dict[str, str]:
    """The test's own cache and temporary folder, this checkout on the path, one thread per process (both runs
    alike: torchrun sets it for its ranks, and two cores shared with other work slow a multi-threaded run ~20×)."""
    source = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])),
            "HEADSTART_CACHE": str(tmp_path / "cache"), "TMPDIR": str(tmp_path), "OMP_NUM_THREADS": "1",
            "HF_HUB_OFFLINE": "1"}


def _headstart(*args: str, env: dict[str, str], launcher: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    command = [sys.executable, *launcher, "-m", "headstart.cli", "--json", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_two_processes_train_one_model_as_good_as_one_process(fashion_four, tmp_path):
    train, test = fashion_four
    env = _env(tmp_path)
    accuracy = {}
    for devices in (1, 2):  # the same global batch (32 images a step: 32 on one process, 16 on each of two)
        out = tmp_path / f"model-{devices}"
        trained = json.loads(_headstart("train", str(train), "--strategy", "full", "--devices", str(devices),
                                        "--accelerator", "cpu", "--epochs", "15", "--image-size", "32",
                                        "--batch-size", str(32 // devices), "--seed", "0", "--out", str(out),
                                        env=env).stdout)
        assert sorted(p.name for p in out.iterdir()) == ["logs", "metrics.json", "model.pt"]
        assert 1 <= trained["epochs_run"] <= 15  # early stopping (patience 5) may end it sooner
        with open(out / "logs" / "metrics.csv", newline="") as curves:  # one row per epoch run
            assert sum(bool(row["val_acc"]) for row in csv.DictReader(curves)) == trained["epochs_run"]
        accuracy[devices] = json.loads(_headstart("evaluate", str(out), str(test), env=env).stdout)["accuracy"]
    assert sorted(p.name for p in tmp_path.glob("headstart-ckpt-*")) == []  # checkpoints removed by every rank
    # Full fine-tuning of 128 images is chaotic on a CPU (oneDNN's float sums are not bit-reproducible): the same
    # one-process command scored 77.5 % and 82.5 % in two runs here, and a CI run saw 88.75 % with one process
    # against 67.5 % with two. So: well above chance (25 %) on two processes, and not far from one.
    assert accuracy[2] >= 0.6 and abs(accuracy[2] - accuracy[1]) <= 0.25, accuracy


def _cache_entries(cache: Path) -> dict[str, np.ndarray]:
    return {path.stem: np.load(path) for path in cache.glob("embeddings/*/*/*.npy")}


def test_two_process_embedding_equals_one_process_and_embeds_each_image_once(fashion_four, tmp_path):
    train, _ = fashion_four
    images = sorted(train.rglob("*.png"))
    env = _env(tmp_path)
    two = {**env, "HEADSTART_CACHE": str(tmp_path / "two")}
    torchrun = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2")
    counts = json.loads(_headstart("embed", str(train), "--devices", "2", "--accelerator", "cpu", env=two,
                                   launcher=torchrun).stdout)
    assert counts["images"] == len(images) and counts["cached_before"] == 0
    assert counts["embedded_per_rank"] == [len(images) // 2, len(images) - len(images) // 2]
    one = {**env, "HEADSTART_CACHE": str(tmp_path / "one")}
    assert json.loads(_headstart("embed", str(train), env=one).stdout)["embedded_per_rank"] == [len(images)]
    split, whole = _cache_entries(tmp_path / "two"), _cache_entries(tmp_path / "one")
    assert len(split) == len(whole) == len(images)  # one entry per image, none twice
    assert max(float(np.abs(split[key] - whole[key]).max()) for key in whole) <= 1e-5
    assert not list((tmp_path / "two").rglob("*.tmp"))
    again = json.loads(_headstart("embed", str(train), "--devices", "2", "--accelerator", "cpu", env=two).stdout)
    assert (again["cached_before"], again["embedded"]) == (len(images), 0)


def _descendants(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children += [int(c) for c in (task / "children").read_text().split()]
    return children + [grandchild for child in children for grandchild in _descendants(child)]


def _rank_pid(launcher: int, rank: int) -> int | None:
    for pid in _descendants(launcher):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ and b"TORCHELASTIC_RUN_ID" in b"\0".join(environ):
            return pid
    return None


def test_a_rank_that_dies_stops_the_run_with_a_clear_message_and_writes_nothing(fashion_four, tmp_path):
    train, _ = fashion_four
    out = tmp_path / "model"
    command = [sys.executable, "-m", "headstart.cli", "train", str(train), "--strategy", "full", "--devices", "2",
               "--accelerator", "cpu", "--epochs", "500", "--image-size", "32", "--out", str(out)]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        deadline = time.monotonic() + 600
        while not list(tmp_path.glob("headstart-ckpt-*")):  # the ranks are training
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()[1][-3000:]
            time.sleep(0.5)
        time.sleep(2)
        victim = _rank_pid(run.pid, 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        _, stderr = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1
    assert "rank 1 of 2" in stderr and "SIGKILL" in stderr and "every rank was stopped" in stderr
    written = [path.name for path in out.rglob("*")] if out.exists() else []
    assert "model.pt" not in written and "metrics.json" not in written
    assert not [name for name in written if name.endswith(".tmp")]


def test_a_logger_whose_package_is_missing_is_refused_before_any_work(fashion_four, tmp_path, capsys):
    from headstart.cli import main

    if importlib.util.find_spec("mlflow"):
        pytest.skip("mlflow is installed here")
    assert main(["train", str(fashion_four[0]), "--strategy", "full", "--logger", "mlflow",
                 "--out", str(tmp_path / "m")]) == 1
    message = capsys.readouterr().err
    assert "mlflow" in message and "pip install mlflow" in message
    assert not (tmp_path / "m").exists()


def test_out_of_range_and_contradicting_placements_are_refused_before_any_work(fashion_four, tmp_path, capsys):
    from headstart import ConfigError, ImageClassifier
    from headstart.cli import main

    with pytest.raises(ConfigError, match=r"devices \(--devices\) must be an int in the range \[1, inf\)"):
        ImageClassifier(devices=0).fit(fashion_four[0])
    with pytest.raises(ConfigError, match=r"distributed \(--distributed\) must be one of 'auto', 'ddp', 'fsdp'"):
        ImageClassifier(distributed="horovod").fit(fashion_four[0])
    texts = tmp_path / "texts.csv"
    texts.write_text("text,label\n" + "".join(f"match report {i},sport\nshare prices {i},business\n" for i in range(5)))
    assert main(["train", str(texts), "--devices", "2", "--out", str(tmp_path / "m")]) == 1  # auto: one process
    assert "texts run on several processes only to fine-tune" in capsys.readouterr().err
    assert main(["train", str(fashion_four[0]), "--num-nodes", "2", "--out", str(tmp_path / "m")]) == 1
    assert "srun" in capsys.readouterr().err and not (tmp_path / "m").exists()


def test_text_fine_tuning_on_two_processes_writes_one_model_as_good_as_one_process(tmp_path):
    rows = ["text,label"] + [f"the striker scored a late goal in match {i},sport" for i in range(12)] + \
        [f"the central bank raised interest rates in quarter {i},business" for i in range(12)]
    (tmp_path / "news.csv").write_text("\n".join(rows) + "\n")
    env = _env(tmp_path)
    accuracy = {}
    for devices in (1, 2):
        out = tmp_path / f"model-{devices}"
        trained = json.loads(_headstart("train", str(tmp_path / "news.csv"), "--strategy", "full", "--devices",
                                        str(devices), "--accelerator", "cpu", "--epochs", "2", "--max-length", "24",
                                        "--seed", "0", "--out", str(out), env=env).stdout)
        assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "model.pt"]
        assert trained["epochs_run"] == 2 and trained["strategy"] == "full"
        accuracy[devices] = trained["val_accuracy"]
    assert accuracy[2] >= accuracy[1] - 0.2 and accuracy[2] > 0.5, accuracy
    assert sorted(p.name for p in tmp_path.glob("headstart-ckpt-*")) == []
