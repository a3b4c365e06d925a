"""Training rows: the real shared files in TRL's formats, and bad data named by file, row and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.errors import UserError
from evalkit.harness.config import TrainConfig, load_train_config
from evalkit.harness.data import PreparedRows, prepare_rows
from tests.conftest import SHARED_DATA, write_jsonl

needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"the shared data folder {SHARED_DATA} is absent")
CHAT = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]


def prepared(tmp_path: Path, text: str) -> PreparedRows:
    (tmp_path / "train.yaml").write_text(text)
    config, base = load_train_config(tmp_path / "train.yaml")
    return prepare_rows(config, base)


def refused(tmp_path: Path, text: str) -> str:
    with pytest.raises(UserError) as info:
        prepared(tmp_path, text)
    assert "\n" not in str(info.value)
    return str(info.value)


@needs_shared
def test_ultrachat_for_sft(tmp_path: Path) -> None:
    path = SHARED_DATA / "sft" / "ultrachat_small_1000.jsonl"
    rows = prepared(tmp_path, f"method: sft\nmodel: m\ndataset:\n  path: {path}\n  shuffle_seed: 3\n  select: 50\n"
                              "  eval_fraction: 0.1\n")
    assert (rows.format, rows.conversational, rows.rows, len(rows.eval or [])) == ("messages", True, 45, 5)
    assert rows.train.column_names == ["messages"]
    originals = [json.loads(line)["messages"] for line in path.read_text().splitlines()]
    assert all(row["messages"] in originals for row in rows.train)  # rows are the file's, unchanged
    again = prepared(tmp_path, f"method: sft\nmodel: m\ndataset:\n  path: {path}\n  shuffle_seed: 3\n  select: 50\n"
                               "  eval_fraction: 0.1\n")
    assert again.fingerprint == rows.fingerprint and list(again.train) == list(rows.train)
    other = prepared(tmp_path, f"method: sft\nmodel: m\ndataset:\n  path: {path}\n  shuffle_seed: 4\n  select: 50\n")
    assert other.fingerprint != rows.fingerprint


@needs_shared
def test_orca_pairs_with_a_system_column_become_conversations(tmp_path: Path) -> None:
    path = SHARED_DATA / "dpo" / "orca_dpo_pairs_validation.pcr.jsonl"
    rows = prepared(tmp_path, f"method: dpo\nmodel: m\ndataset:\n  path: json\n  data_files: {path}\n  select: 5\n")
    first = json.loads(path.read_text().splitlines()[0])
    assert (rows.format, rows.conversational, rows.rows) == ("preference", True, 5)
    assert rows.train.column_names == ["prompt", "chosen", "rejected"]
    assert rows.train[0] == {
        "prompt": [{"role": "system", "content": first["system"]}, {"role": "user", "content": first["prompt"]}],
        "chosen": [{"role": "assistant", "content": first["chosen"]}],
        "rejected": [{"role": "assistant", "content": first["rejected"]}]}


@needs_shared
def test_ultrafeedback_filtered_and_with_the_prompt_turn_taken_out_of_the_replies(tmp_path: Path) -> None:
    path = SHARED_DATA / "dpo" / "ultrafeedback_binarized_sample.jsonl"
    originals = [json.loads(line) for line in path.read_text().splitlines()]
    rows = prepared(tmp_path, f"method: dpo\nmodel: m\ndataset:\n  path: {path}\n  filter:\n"
                              "    - {column: score_chosen, op: '!=', other_column: score_rejected}\n"
                              "    - {column: score_chosen, op: '>=', value: 8}\n")
    kept = [r for r in originals if r["score_chosen"] != r["score_rejected"] and r["score_chosen"] >= 8]
    assert 0 < rows.rows == len(kept) < len(originals)
    for row, original in zip(rows.train, kept):
        assert row["prompt"] == [{"role": "user", "content": original["prompt"]}]
        assert row["chosen"] == original["chosen"][1:] and row["rejected"] == original["rejected"][1:]


@needs_shared
def test_the_sft_file_does_not_fit_dpo(tmp_path: Path) -> None:
    path = SHARED_DATA / "sft" / "ultrachat_small_1000.jsonl"
    message = refused(tmp_path, f"method: dpo\nmodel: m\ndataset: {{path: {path}}}\n")
    assert message == (f"{path}:1: column 'prompt': missing (the dpo method needs prompt, chosen, rejected; the file "
                       "has: messages; these rows fit the messages format, which is not for dpo; map columns with "
                       "dataset.columns)")


def test_a_row_missing_a_column_is_named_by_its_line(tmp_path: Path) -> None:
    good = {"prompt": "2+2?", "chosen": "4", "rejected": "5"}
    write_jsonl(tmp_path / "data.jsonl", [good, good, {"prompt": "3+3?", "chosn": "6", "rejected": "7"}])
    message = refused(tmp_path, "method: dpo\nmodel: m\ndataset: {path: data.jsonl}\n")
    assert message == (f"{tmp_path / 'data.jsonl'}:3: column 'chosen': missing (rows are in the preference format, "
                       "which needs prompt, chosen, rejected; this row has: prompt, chosn, rejected)")


def test_wrong_columns_for_dpo_name_what_the_file_has(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data.jsonl", [{"question": "2+2?", "answer": "4"}])
    message = refused(tmp_path, "method: dpo\nmodel: m\ndataset: {path: data.jsonl}\n")
    assert message.startswith(f"{tmp_path / 'data.jsonl'}:1: column 'prompt': missing (the dpo method needs prompt, "
                              "chosen, rejected; the file has: question, answer")


def test_columns_map_the_file_onto_a_format(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data.jsonl", [{"question": "2+2?", "answer": "4", "id": 1}])
    rows = prepared(tmp_path, "method: sft\nmodel: m\ndataset:\n  path: data.jsonl\n"
                              "  columns: {question: prompt, answer: completion}\n")
    assert (rows.format, rows.conversational) == ("prompt_completion", False)
    assert list(rows.train) == [{"prompt": "2+2?", "completion": "4"}]
    message = refused(tmp_path, "method: sft\nmodel: m\ndataset:\n  path: data.jsonl\n  columns: {query: prompt}\n")
    assert message == (f"{tmp_path / 'data.jsonl'}:1: column 'query': missing (dataset.columns maps it to 'prompt'; "
                       "the file has: question, answer, id)")


@pytest.mark.parametrize(("row", "fragment"), [
    ({"messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Yo"}]},
     "column 'messages': message 2: role must be one of system, user, assistant, got 'bot'"),
    ({"messages": [{"role": "user", "content": "Hi"}]}, "column 'messages': no assistant message"),
    ({"messages": "Hi"}, "column 'messages': expected a non-empty list of {role, content}, got 'Hi'"),
    ({"text": ""}, "column 'text': expected non-empty text, got ''"),
    ({"prompt": "Hi", "completion": CHAT}, "column 'completion': a message list, but prompt is text"),
])
def test_bad_values_are_named_by_line_and_column(tmp_path: Path, row: dict, fragment: str) -> None:
    first = {"text": "fine"} if "text" in row else {"prompt": "a", "completion": "b"} if "prompt" in row else {
        "messages": CHAT}
    write_jsonl(tmp_path / "data.jsonl", [first, row])
    message = refused(tmp_path, "method: sft\nmodel: m\ndataset: {path: data.jsonl}\n")
    assert message.startswith(f"{tmp_path / 'data.jsonl'}:2: ") and fragment in message, message


def test_csv_rows_filter_and_hold_out_an_eval_split(tmp_path: Path) -> None:
    (tmp_path / "train.csv").write_text("text,quality\n" + "".join(f"row {i},{i % 3}\n" for i in range(9)))
    (tmp_path / "test.csv").write_text("text,quality\nheld,2\nlow,0\n")
    rows = prepared(tmp_path, "method: sft\nmodel: m\ndataset:\n  path: csv\n"
                              "  data_files: {train: train.csv, test: test.csv}\n  eval_split: test\n"
                              "  filter: [{column: quality, op: '>', value: 0}]\n")
    assert (rows.format, rows.rows) == ("text", 6)
    assert rows.eval is not None and list(rows.eval) == [{"text": "held"}]
    message = refused(tmp_path, "method: sft\nmodel: m\ndataset:\n  path: csv\n  data_files: train.csv\n"
                                "  filter: [{column: score, op: '>', value: 0}]\n")
    assert message.startswith(f"{tmp_path / 'train.csv'} row 1: column 'score': missing (filter needs it")


def test_eval_split_needs_a_source_with_splits(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data.jsonl", [{"text": "a"}, {"text": "b"}])
    message = refused(tmp_path, "method: sft\nmodel: m\ndataset: {path: data.jsonl, eval_split: test}\n")
    assert message.startswith("dataset.eval_split: 'data.jsonl' has no splits") and "use eval_fraction" in message


def test_prompt_completion_rows_are_one_kind(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data.jsonl", [{"prompt": "a", "completion": "b"},
                                          {"prompt": CHAT[:1], "completion": CHAT[1:]}])
    message = refused(tmp_path, "method: sft\nmodel: m\ndataset: {path: data.jsonl}\n")
    assert message == (f"{tmp_path / 'data.jsonl'}:2: column 'prompt': a message list, but the first row's is text "
                       "(TRL needs one kind per dataset)")
    write_jsonl(tmp_path / "data.jsonl", [{"prompt": CHAT[:1], "completion": CHAT[1:]}])
    rows = prepared(tmp_path, "method: sft\nmodel: m\ndataset: {path: data.jsonl}\n")
    assert (rows.format, rows.conversational) == ("prompt_completion", True)


def test_string_and_conversational_prompts_are_made_one_kind(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data.jsonl", [
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
        {"prompt": [{"role": "user", "content": "3+3?"}], "chosen": [{"role": "assistant", "content": "6"}],
         "rejected": "7"}])
    rows = prepared(tmp_path, "method: dpo\nmodel: m\ndataset: {path: data.jsonl}\n")
    assert rows.conversational
    assert rows.train[0] == {"prompt": [{"role": "user", "content": "2+2?"}],
                             "chosen": [{"role": "assistant", "content": "4"}],
                             "rejected": [{"role": "assistant", "content": "5"}]}
    assert rows.train[1]["rejected"] == [{"role": "assistant", "content": "7"}]


def test_everything_filtered_away_is_an_error(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data.jsonl", [{"text": "a", "n": 1}])
    config = TrainConfig.model_validate({"method": "sft", "model": "m", "dataset": {
        "path": "data.jsonl", "filter": [{"column": "n", "op": ">", "value": 5}]}})
    with pytest.raises(UserError, match="no rows left to train on"):
        prepare_rows(config, tmp_path)


def test_assistant_only_loss_on_text_rows_is_refused_at_the_config_line(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "data.jsonl", [{"text": "a"}])
    message = refused(tmp_path, "method: sft\nmodel: m\ndataset: {path: data.jsonl}\n"
                                "trainer:\n  assistant_only_loss: true\n")
    assert message == (f"{tmp_path / 'train.yaml'}:5:3: trainer.assistant_only_loss: needs conversational rows "
                       "(messages, or prompt/completion as message lists); these rows are plain text")


def test_skip_leaves_out_the_files_first_rows_before_the_shuffle(tmp_path: Path) -> None:
    """skip holds out the head of the file (after filter): what a suite task with limit: N reads."""
    write_jsonl(tmp_path / "data.jsonl", [{"text": f"row {i}", "keep": i != 1} for i in range(8)])
    rows = prepared(tmp_path, "method: sft\nmodel: m\ndataset:\n  path: data.jsonl\n"
                              "  filter: [{column: keep, op: '==', value: true}]\n  skip: 2\n  select: 3\n")
    # rows 0, 2, 3, ... after the filter; skip 2 leaves out rows 0 and 2
    assert [r["text"] for r in rows.train] == ["row 3", "row 4", "row 5"]
    assert (rows.read_rows, rows.filtered_out) == (8, 1)
    shuffled = prepared(tmp_path, "method: sft\nmodel: m\ndataset: {path: data.jsonl, skip: 2, shuffle_seed: 0}\n")
    assert sorted(r["text"] for r in shuffled.train) == [f"row {i}" for i in range(2, 8)]  # never rows 0 and 1


def test_reward_pairs_keep_a_numeric_margin_and_prompt_only_rows_for_grpo(tmp_path: Path) -> None:
    pair = {"prompt": "2+2?", "chosen": "4", "rejected": "5", "margin": 1.5, "note": "x"}
    write_jsonl(tmp_path / "data.jsonl", [pair])
    assert list(prepared(tmp_path, "method: reward\nmodel: m\n" + "dataset: {path: data.jsonl}\n").train) == [
        {"prompt": "2+2?", "chosen": "4", "rejected": "5", "margin": 1.5}]
    # DPO has no margin: the column is left out, as any other
    assert "margin" not in prepared(tmp_path, "method: dpo\nmodel: m\ndataset: {path: data.jsonl}\n").train[0]
    grpo = prepared(tmp_path, "method: grpo\nmodel: m\nreward_model: rm\ndataset: {path: data.jsonl}\n")
    assert (grpo.format, list(grpo.train)) == ("prompt", [{"prompt": "2+2?"}])
    write_jsonl(tmp_path / "data.jsonl", [{**pair, "margin": "big"}])
    assert refused(tmp_path, "method: reward\nmodel: m\ndataset: {path: data.jsonl}\n") == (
        f"{tmp_path / 'data.jsonl'}:1: column 'margin': expected a finite number, got 'big'")
