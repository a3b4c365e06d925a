"""Run configuration parsed once at the edge: the environment, the merged RunConfig, the entry points."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from evalkit import config
from evalkit.config import Environment, RunConfig
from evalkit.errors import UserError
from evalkit.suites import Suite, load_suite
from tests.conftest import REPO

# The edge reads the environment; the sandbox bootstrap runs in another interpreter (exempt); the
# leaderboard command hands its environment, plus the app's settings, to the Streamlit process it starts;
# the local launcher hands its environment, plus each worker's device, to the worker processes it starts.
ALLOWED = {REPO / "evalkit" / "cli.py", REPO / "evalkit" / "sandbox" / "bootstrap.py",
           REPO / "evalkit" / "commands" / "leaderboard.py", REPO / "evalkit" / "launch" / "local.py"}
ENV_NAMES = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}


def _env_reads(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr in ENV_NAMES:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            found += [f"{path.relative_to(REPO)}:{node.lineno}: from os import {a.name}"
                      for a in node.names if a.name in ENV_NAMES]
    return found


def test_only_the_cli_edge_reads_the_environment() -> None:
    files = sorted([*(REPO / "evalkit").rglob("*.py"), *(REPO / "evaluators").rglob("*.py")])
    assert REPO / "evalkit" / "store" / "paths.py" in files
    offenders = [hit for f in files if f not in ALLOWED for hit in _env_reads(f)]
    assert offenders == []
    assert _env_reads(REPO / "evalkit" / "cli.py")  # the scan does see a read where there is one


def test_environment_parses_each_variable() -> None:
    env = Environment.from_environ({"EVALKIT_HOME": " ~/eh ", "EVALKIT_CACHE": "/c", "EVALKIT_DATA_ROOT": "~/d",
                                    "EVALKIT_PROGRESS": "0", "HF_HUB_OFFLINE": "1", "OPENAI_API_KEY": "k"})
    assert env == Environment(home=Path.home() / "eh", cache=Path("/c"), data_root=Path.home() / "d",
                              progress=False, hf_hub_offline=True, openai_api_key="k")
    bare = Environment.from_environ({"EVALKIT_HOME": "", "HF_HUB_OFFLINE": "false"})
    assert bare == Environment() and bare.home == Path.home() / ".evalkit"
    assert bare.cache == Path.home() / ".cache" / "evalkit" and bare.progress and not bare.hf_hub_offline


def test_the_evalkit_home_default_is_shared_by_store_and_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.sandbox.interpreter import hidden_roots
    from evalkit.store import default_store_path

    home = Path("/nonexistent-evalkit-home")
    monkeypatch.setattr(config, "_installed", Environment(home=home))
    assert default_store_path() == home / "evalkit.db"
    assert home in hidden_roots()
    monkeypatch.setattr(config, "_installed", None)  # nothing installed: the library defaults
    assert default_store_path() == Path.home() / ".evalkit" / "evalkit.db"
    assert Path(os.path.realpath(Path.home() / ".evalkit")) in hidden_roots()


SUITE = """\
suite: s
defaults: {batch_size: 4, seed: 7, limit: 5}
tasks:
  - name: a
    evaluator: perplexity
    dataset: {path: json, data_files: t.jsonl}
  - name: b
    evaluator: perplexity
    dataset: {path: json, data_files: t.jsonl}
    limit: 2
"""


@pytest.fixture
def suite(tmp_path: Path) -> Suite:
    (tmp_path / "t.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "s.yaml").write_text(SUITE)
    return load_suite(tmp_path / "s.yaml")


def test_run_config_merges_flags_over_suite_over_environment(suite: Suite, tmp_path: Path) -> None:
    env = Environment(home=tmp_path / "home", data_root=tmp_path / "mirror", progress=False)
    cfg = RunConfig.resolve(suite, env, model="m")
    assert (cfg.seed, cfg.batch_size, cfg.limit, dict(cfg.limits)) == (7, 4, 5, {"a": 5, "b": 2})
    assert cfg.store_path == tmp_path / "home" / "evalkit.db" and cfg.data_root == tmp_path / "mirror"
    assert cfg.tasks == ("a", "b") and cfg.progress is False
    flags = RunConfig.resolve(suite, env, model="m", limit=1, batch_size="auto", seed=0, tasks=("b",),
                              store_path=tmp_path / "x.db", data_root=Path("~/d"))
    assert (flags.seed, flags.batch_size, flags.limit, dict(flags.limits)) == (0, "auto", 1, {"b": 1})
    assert flags.store_path == tmp_path / "x.db" and flags.data_root == Path.home() / "d"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"batch_size": 0}, "--batch-size: expected a positive integer or 'auto', got 0"),
    ({"batch_size": "big"}, "--batch-size: expected a positive integer or 'auto', got 'big'"),
    ({"limit": 0}, "--limit: expected a positive integer, got 0"),
    ({"tasks": ("c",)}, "--tasks: unknown task 'c' in suite s (known: a, b)"),
])
def test_run_config_refuses_bad_values(suite: Suite, kwargs: dict, message: str) -> None:
    with pytest.raises(UserError) as info:
        RunConfig.resolve(suite, Environment(), model="m", **kwargs)
    assert str(info.value) == message


def test_installed_entry_point_is_python_m_evalkit(tmp_path: Path) -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "evalkit"]
    assert script.value == "evalkit.cli:main"
    exe = shutil.which("evalkit", path=str(Path(sys.executable).parent))
    assert exe is not None, "the evalkit script is not installed next to this interpreter"
    suite = tmp_path / "s.yaml"
    suite.write_text("suite: s\ntasks:\n  - name: a\n    evaluator: perplexity\n"
                     "    dataset: {path: json, data_files: nowhere.jsonl}\n")
    outs = []
    for cmd in ([exe], [sys.executable, "-m", "evalkit"], [sys.executable, "-m", "evalkit.cli"]):
        for args in (["suites", "validate", str(suite)], ["run", str(suite), "--batch-size", "0"], ["--help"]):
            proc = subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=REPO, timeout=120)
            outs.append((args[0], proc.returncode, proc.stdout, proc.stderr))
    assert outs[:3] == outs[3:6] == outs[6:]
    assert [o[1] for o in outs[:3]] == [2, 2, 0]


def test_main_sets_tokenizers_parallelism_for_every_entry_point(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from evalkit import cli

    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    monkeypatch.setenv("EVALKIT_HOME", str(tmp_path / "h"))
    monkeypatch.setattr(config, "_installed", None)  # main installs its own; restored afterwards
    assert cli.main(["suites", "list", str(REPO / "suites")]) == 0
    assert os.environ["TOKENIZERS_PARALLELISM"] == "false"
    assert config.current_environment().home == tmp_path / "h"


def test_the_environment_passed_to_workers_names_the_same_store(tmp_path: Path) -> None:
    # A Ray task gets only to_environ(): a store given by EVALKIT_STORE alone must reach it.
    url = "postgresql://ada@/evalkit?host=/tmp/sock"
    env = Environment.from_environ({"EVALKIT_HOME": str(tmp_path), "EVALKIT_STORE": url})
    again = Environment.from_environ(env.to_environ())
    assert again.store_path == env.store_path == url
    assert "EVALKIT_STORE" not in Environment.from_environ({"EVALKIT_HOME": str(tmp_path)}).to_environ()
