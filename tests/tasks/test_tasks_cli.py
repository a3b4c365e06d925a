"""``evalkit tasks validate|preview|list``: the shipped tasks validate on local data, a preview shows exactly the
requests lm-eval 0.4.13 builds (``ConfigurableTask.build_all_requests``, plain and under a chat template), and a
listing names every task, group and tag. No command loads model weights or reaches the hub."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from lm_eval.api.task import ConfigurableTask
from lm_eval.tasks._index import Kind, TaskIndex

from evalkit import cli
from evalkit.parity.mirror import LINKS, build_mirror
from evalkit.tasks.loader import SHIPPED_DIR
from tests.conftest import SHARED_DATA, run_cli

ROWS = [
    {"question": "Capital of France?", "answers": ["Paris", "Lyon", "Nice"], "label": 0, "gold": "Paris"},
    {"question": "Capital of Peru?", "answers": ["Quito", "Lima", "Cusco"], "label": 1, "gold": "Lima"},
    {"question": "Capital of Chad?", "answers": ["Abuja", "Bangui", "N'Djamena"], "label": 2, "gold": "N'Djamena"},
    {"question": "Capital of Laos?", "answers": ["Vientiane", "Hanoi", "Yangon"], "label": 0, "gold": "Vientiane"},
]
TRAIN = [{"question": "Capital of Spain?", "answers": ["Madrid", "Rome", "Oslo"], "label": 0, "gold": "Madrid"},
         {"question": "Capital of Chile?", "answers": ["Lima", "Santiago", "Quito"], "label": 1, "gold": "Santiago"}]

MC_TASK = """\
task: capitals_mc
dataset_path: json
dataset_kwargs:
  data_files: {test: test.jsonl, train: train.jsonl}
test_split: test
training_split: train
output_type: multiple_choice
description: "Answer with the capital.\\n\\n"
doc_to_text: "Question: {{question}}\\nAnswer:"
doc_to_target: label
doc_to_choice: answers
num_fewshot: 2
fewshot_config:
  sampler: first_n
metric_list:
  - metric: acc
  - metric: acc_norm
"""
GEN_TASK = """\
task: capitals_gen
dataset_path: json
dataset_kwargs:
  data_files: {test: test.jsonl}
test_split: test
output_type: generate_until
doc_to_text: "Q: {{question}}\\nA:"
doc_to_target: gold
generation_kwargs:
  until: ["\\n", "Q:"]
  max_gen_toks: 12
filter_list:
  - name: strict
    filter:
      - function: regex
        regex_pattern: "([A-Z][a-z]+)"
      - function: take_first
metric_list:
  - metric: exact_match
    ignore_case: true
metadata:
  version: 2.0
"""


def write_tasks(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("test.jsonl", ROWS), ("train.jsonl", TRAIN)):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "capitals_mc.yaml").write_text(MC_TASK)
    (folder / "capitals_gen.yaml").write_text(GEN_TASK)
    return folder


def lm_eval_requests(path: Path, **build: Any) -> list[list[tuple[str, Any]]]:
    """lm-eval's own requests for the task file: per document, (request type, arguments) in order."""
    config = yaml.safe_load(path.read_text())
    files = config["dataset_kwargs"]["data_files"]
    config["dataset_kwargs"]["data_files"] = {k: str(path.parent / v) for k, v in files.items()}
    task = ConfigurableTask(config=config)
    task.build_all_requests(rank=0, world_size=1, **build)
    out: list[list[tuple[str, Any]]] = []
    for instance in sorted(task.instances, key=lambda i: (i.doc_id, i.idx)):
        while len(out) <= instance.doc_id:
            out.append([])
        out[instance.doc_id].append((instance.request_type, instance.arguments))
    return out


def parse_preview(text: str) -> list[list[tuple[str, Any]]]:
    """The preview's requests, per document, as (request type, arguments) like lm-eval's instances."""
    docs: list[list[tuple[str, Any]]] = []
    context = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("document "):
            docs.append([])
        elif stripped.startswith("context: "):
            shown = stripped.removeprefix("context: ")
            context = context if shown == "(the same as above)" else ast.literal_eval(shown)
        elif stripped.startswith("continuation: "):
            docs[-1].append(("loglikelihood", (context, ast.literal_eval(stripped.removeprefix("continuation: ")))))
        elif stripped.startswith("until: "):
            until, max_gen = stripped.removeprefix("until: ").split("; max_gen_toks: ")
            docs[-1].append(("generate_until", (context, {"until": ast.literal_eval(until),
                                                           "max_gen_toks": int(max_gen)})))
    return docs


def main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()  # what came before (lm-eval's progress bars) is not the command's
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- validate ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return build_mirror(SHARED_DATA, tmp_path_factory.mktemp("mirror"))


SHIPPED = {"arc_easy": "allenai/ai2_arc/ARC-Easy/test.jsonl",
           "arc_challenge": "allenai/ai2_arc/ARC-Challenge/test.jsonl",
           "truthfulqa_mc1": "truthfulqa/truthful_qa/multiple_choice/validation.jsonl",
           "truthfulqa_mc2": "truthfulqa/truthful_qa/multiple_choice/validation.jsonl",
           "piqa": "baber/piqa/validation.jsonl", "boolq": "aps/super_glue/boolq/validation.jsonl",
           "winogrande": "allenai/winogrande/winogrande_xl/validation.jsonl",
           "sst2": "nyu-mll/glue/sst2/validation.jsonl", "rte": "nyu-mll/glue/rte/validation.jsonl",
           "hellaswag": "Rowan/hellaswag/validation.jsonl", "gsm8k": "openai/gsm8k/main/test.jsonl"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_validate_reads_and_renders_every_document_of_a_shipped_task(name: str, mirror: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert SHIPPED[name] in LINKS
    data = mirror / SHIPPED[name]
    if not data.exists():
        pytest.skip(f"no shared data for {name}")
    rows = sum(1 for line in data.read_text().splitlines() if line.strip())
    assert main(capsys, "tasks", "validate", name, "--data-root", str(mirror)) == \
        (0, f"ok: 1 task, {rows} documents\n", "")


def test_validate_a_tag_and_a_folder(mirror: Path, capsys: pytest.CaptureFixture[str]) -> None:
    easy, challenge = (sum(1 for _ in (mirror / SHIPPED[t]).open()) for t in ("arc_easy", "arc_challenge"))
    assert main(capsys, "tasks", "validate", "ai2_arc", "--data-root", str(mirror)) == \
        (0, f"ok: 2 tasks, {easy + challenge} documents\n", "")
    assert main(capsys, "tasks", "validate", str(SHIPPED_DIR / "arc"), "--data-root", str(mirror))[1] == \
        f"ok: 2 tasks, {easy + challenge} documents\n"


def test_validate_without_local_data_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = main(capsys, "tasks", "validate", "arc_easy", "--data-root", str(tmp_path))
    assert (code, out) == (2, "")
    assert err == (f"task arc_easy: dataset 'allenai/ai2_arc' is a hub id with no local copy (no mirror of it under "
                   f"--data-root {tmp_path}, no folder of that name next to arc_easy.yaml); pass --data-root DIR "
                   "(layout: DIR/<owner>/<name>[/<dataset_name>]/<split>.jsonl), or --no-data for the static checks "
                   "only\n")


def test_validate_no_data_does_the_static_checks_only(capsys: pytest.CaptureFixture[str]) -> None:
    shipped = [p for p in SHIPPED_DIR.rglob("*.yaml") if "group" not in yaml.load(p.read_text(), Loader=_Tagless)]
    assert main(capsys, "tasks", "validate", str(SHIPPED_DIR), "--no-data") == \
        (0, f"ok: {len(shipped)} tasks (static checks only; no documents read)\n", "")


def test_validate_a_local_task_in_a_fresh_process(tmp_path: Path) -> None:
    folder = write_tasks(tmp_path / "t")
    proc = run_cli("tasks", "validate", str(folder))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "ok: 2 tasks, 8 documents\n", "")


# -- preview -----------------------------------------------------------------------------------------------

def test_preview_shows_lm_evals_exact_requests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tasks(tmp_path / "t")
    for name in ("capitals_mc", "capitals_gen"):
        code, out, err = main(capsys, "tasks", "preview", str(folder / f"{name}.yaml"), "--n", "3")
        assert (code, err) == (0, "")
        reference = lm_eval_requests(folder / f"{name}.yaml")
        assert parse_preview(out) == reference[:3]
        total = sum(len(doc) for doc in reference)
        kind = reference[0][0][0]
        assert f"  requests: {total} for the whole task ({total} {kind})\n" in out
        shots = 2 if name == "capitals_mc" else 0
        output_type = "multiple_choice" if name == "capitals_mc" else "generate_until"
        assert f"  output_type: {output_type}; 4 documents (split 'test' of json test.jsonl); num_fewshot: {shots}\n" \
            in out
    assert "  metrics: acc (mean, higher is better), acc_norm (mean, higher is better)\n" in \
        main(capsys, "tasks", "preview", str(folder / "capitals_mc.yaml"))[1]
    gen = main(capsys, "tasks", "preview", str(folder / "capitals_gen.yaml"), "--n", "1")[1]
    assert gen.startswith(f"capitals_gen  ({folder / 'capitals_gen.yaml'}, version 2.0)\n")
    assert "  filters: strict: regex(regex_pattern='([A-Z][a-z]+)') -> take_first\n" in gen
    assert "  metrics: exact_match (mean, higher is better)\n" in gen
    assert "    gold: 'Paris'\n" in gen


def test_preview_gold_and_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tasks(tmp_path / "t")
    out = main(capsys, "tasks", "preview", str(folder / "capitals_mc.yaml"), "--n", "2", "--num-fewshot", "0")[1]
    assert "    gold: 1 -> 'Lima'\n    choices: ['Quito', 'Lima', 'Cusco']\n" in out
    assert "num_fewshot: 0" in out and "\n  document 2\n" not in out
    reference = lm_eval_requests(folder / "capitals_mc.yaml")  # 2-shot in the file; the flag overrides it
    assert parse_preview(out)[0][0][1][0] != reference[0][0][1][0]


@pytest.fixture(scope="module")
def tokenizer_only(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's config and tokenizer (with its chat template) and no weights: a preview may read nothing else."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("tokenizer-only")
    shutil.copy(default_model_dir / "config.json", folder / "config.json")
    AutoTokenizer.from_pretrained(default_model_dir).save_pretrained(folder)
    assert not list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin"))
    return folder


def test_preview_with_a_model_uses_its_chat_template_as_lm_eval_does(tmp_path: Path, tokenizer_only: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_only)

    def chat_template(history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        # lm-eval's HFLM.apply_chat_template
        return tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=add_generation_prompt,
                                             continue_final_message=not add_generation_prompt)

    folder = write_tasks(tmp_path / "t")
    for name in ("capitals_mc", "capitals_gen"):
        code, out, err = main(capsys, "tasks", "preview", str(folder / f"{name}.yaml"), "--model", str(tokenizer_only))
        assert (code, err) == (0, "")
        assert f"  prompt: the chat template of model {tokenizer_only.name} (apply_chat_template)\n" in out
        reference = lm_eval_requests(folder / f"{name}.yaml", apply_chat_template=True, fewshot_as_multiturn=True,
                                     chat_template=chat_template)
        shown = parse_preview(out)
        assert shown == reference[:3]
        assert "<|im_start|>user" in shown[0][0][1][0]


def test_preview_with_a_model_without_chat_template_shows_plain_text(tmp_path: Path, tokenizer_only: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    plain = tmp_path / "plain-model"
    shutil.copytree(tokenizer_only, plain)
    for template in plain.glob("chat_template.*"):
        template.unlink()
    config = json.loads((plain / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (plain / "tokenizer_config.json").write_text(json.dumps(config))
    folder = write_tasks(tmp_path / "t")
    code, out, err = main(capsys, "tasks", "preview", str(folder / "capitals_gen.yaml"), "--model", str(plain))
    assert (code, err) == (0, "")
    assert "  prompt: plain text (model plain-model: apply_chat_template is set but the model has no chat " \
        "template" in out
    assert parse_preview(out) == lm_eval_requests(folder / "capitals_gen.yaml")[:3]


# -- list --------------------------------------------------------------------------------------------------

def test_list_names_every_shipped_task_and_tag(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = main(capsys, "tasks", "list")
    assert (code, err) == (0, "")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    index = TaskIndex.build([SHIPPED_DIR])  # lm-eval's own index: it skips the files that use our `!builtin`
    ours = {yaml.load(p.read_text(), Loader=_Tagless)["task"] for p in SHIPPED_DIR.rglob("*.yaml")
            if "!builtin" in p.read_text()}
    assert ours and not ours & set(index)
    tasks = {name for name, e in index.items() if e.kind == Kind.TASK} | ours
    tags = {name for name, e in index.items() if e.kind == Kind.TAG}
    for p in SHIPPED_DIR.rglob("*.yaml"):  # ... and their tags (hellaswag's multiple_choice)
        tag = yaml.load(p.read_text(), Loader=_Tagless).get("tag") if "!builtin" in p.read_text() else None
        tags |= {tag} if isinstance(tag, str) else set(tag or [])
    assert {n for n, r in rows.items() if r[1] == "task"} == tasks
    assert {n for n, r in rows.items() if r[1] == "tag"} == tags
    for path in sorted(SHIPPED_DIR.rglob("*.yaml")):
        config = yaml.load(path.read_text(), Loader=_Tagless)
        if "group" in config:  # MMLU's groups: listed as groups (test_list_a_folder_with_a_group_and_a_broken_file)
            assert rows[config["group"]][1] == "group"
            continue
        merged = {**(yaml.load((path.parent / config["include"]).read_text(), Loader=_Tagless)
                     if "include" in config else {}), **config}
        row = rows[merged["task"]]
        assert row[2] == merged["output_type"] and row[-1].endswith(str(path.relative_to(SHIPPED_DIR)))
        assert row[3:3 + (2 if merged.get("dataset_name") else 1)] == \
            [merged["dataset_path"], *([merged["dataset_name"]] if merged.get("dataset_name") else [])]
        assert str(merged["metadata"]["version"]) in row
    assert "2 tasks: arc_challenge, arc_easy" in out


class _Tagless(yaml.SafeLoader):
    pass


_Tagless.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_list_a_folder_with_a_group_and_a_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tasks(tmp_path / "t")
    (folder / "g.yaml").write_text("group: capitals\ntask: [capitals_mc, capitals_gen]\nmetadata: {version: 1}\n")
    (folder / "broken.yaml").write_text("include: nowhere.yaml\ntask: broken\n")
    code, out, err = main(capsys, "tasks", "list", str(folder))
    assert (code, err) == (0, "")
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert lines["capitals"].split()[:3] == ["capitals", "group", "-"]
    assert "2 members: capitals_mc, capitals_gen" in lines["capitals"]
    assert lines["capitals_gen"].split()[1:5] == ["task", "generate_until", "json", "2.0"]
    assert "INVALID" in lines["broken"] and "include: no such file 'nowhere.yaml'" in lines["broken"]


def test_list_a_folder_without_task_files_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "suite.yaml").write_text("suite: s\ntasks: []\n")
    assert main(capsys, "tasks", "list", str(tmp_path)) == \
        (2, "", f"{tmp_path}: no task or group files (*.yaml with a task: or group: key)\n")
