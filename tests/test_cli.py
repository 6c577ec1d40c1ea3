"""The command line's shape: an option shared by several commands means the same in each, and no command's
``--help`` imports the heavy libraries."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from headstart.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
PER_COMMAND = {"--out", "--batch-size", "--time-budget", "data"}  # flags whose meaning is each command's own


def _commands() -> dict[str, argparse.ArgumentParser]:
    return next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_an_option_shared_by_commands_has_one_help_and_default():
    seen = defaultdict(dict)  # flag -> command -> what --help and parsing show of it
    for command, parser in _commands().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            flag = action.option_strings[0] if action.option_strings else action.dest
            seen[flag][command] = (action.help, action.default, action.type, action.choices and tuple(action.choices),
                                   action.nargs, type(action).__name__)
    shared = {flag: by_command for flag, by_command in seen.items() if len(by_command) > 1}
    assert {"--backbone", "--weights", "--in-chans", "--engine", "--seed", "--tta", "--background", "--devices",
            "--task", "model"} <= shared.keys()
    for flag, by_command in shared.items():
        if flag not in PER_COMMAND:
            assert len(set(by_command.values())) == 1, (flag, by_command)
            assert next(iter(by_command.values()))[0], f"{flag} has no help text"


def test_every_commands_help_imports_nothing_heavy():
    code = ("import sys, contextlib, io\nfrom headstart.cli import main\n"
            f"for command in {sorted(_commands())!r}:\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try: main([command, '--help'])\n"
            "        except SystemExit: pass\n"
            "print(sorted(m for m in ('torch', 'timm', 'sklearn', 'lightning', 'transformers', 'numpy') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert result.stdout.splitlines() == ["[]"], result.stderr


def test_python_m_headstart_is_the_command():
    result = subprocess.run([sys.executable, "-m", "headstart", "train", "--help"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert result.returncode == 0 and "--backbone" in result.stdout, result.stderr


def test_every_list_of_strategies_comes_from_the_one_table():
    from headstart.compare.grid import COMPARED_STRATEGIES
    from headstart.strategies import AUTO, TABLE, TEXT_STRATEGIES, resolve_strategy

    train = _commands()["train"]
    choices = next(a.choices for a in train._actions if a.dest == "strategy")
    assert set(choices) == set(COMPARED_STRATEGIES) == {AUTO} | {n for n, r in TABLE.items() if "image" in r.tasks}
    assert set(TEXT_STRATEGIES) == {AUTO} | {n for n, r in TABLE.items() if "text" in r.tasks}
    for name, record in TABLE.items():
        if "image" in record.tasks:  # what the estimators train follows the row
            strategy = resolve_strategy(name, 7, 3 if record.frozen == "first" else None)
            assert (strategy.on_embeddings, strategy.pretrained, strategy.features) == \
                (record.on_embeddings, record.pretrained, record.features)
            assert strategy.frozen_stages == {"all": 7, "first": 3, "none": 0}[record.frozen]


def test_the_command_exits_with_its_code_after_the_exit_handlers_and_whole_output(tmp_path):
    # run() ends the process without unloading every module; what a normal exit does must still happen
    script = ("import atexit, sys, headstart.cli\n"
              "marker = sys.argv[1]\n"
              "atexit.register(lambda: open(marker, 'w').write('ran'))\n"
              "sys.argv = ['headstart', *sys.argv[2:]]\n"
              "headstart.cli.run()\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    listed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "ok"), "--json", "backbones"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert listed.returncode == 0 and (tmp_path / "ok").read_text() == "ran"
    assert {"efficientnet_lite0", "minilm"} <= {row["name"] for row in json.loads(listed.stdout)}
    failed = subprocess.run([sys.executable, "-c", script, str(tmp_path / "bad"), "predict", str(tmp_path / "none.pt"),
                             "x.png"], capture_output=True, text=True, env=env, timeout=300)
    assert failed.returncode == 1 and "error:" in failed.stderr and (tmp_path / "bad").read_text() == "ran"
