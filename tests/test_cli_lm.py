"""armin_lm end to end through fairseq's real CLIs, on a slice of real character-level PTB.
Each tool runs once as a real process; the other runs call fairseq's entry functions (and
the job's module) in this process."""
import re

import pytest
from helpers import PLUGIN, TINY_ARMIN, assert_one_line_error, fairseq, fairseq_in_process, module_in_process, python_module
from fairseq.data import data_utils

from armin_plugin.errors import ArminError
from armin_plugin.jobs import fairseq_runs
from armin_plugin.jobs.checkpoints import checkpoint_facts

pytestmark = pytest.mark.slow  # every test here starts fairseq's CLIs

def train(data, save_dir, max_update, *extra, runner=fairseq_in_process):
    """fairseq-train of a tiny armin_lm (in this process, or ``runner=fairseq``: a process)."""
    return runner(
        "train", data, "--user-dir", PLUGIN, "--task", "language_modeling",
        "--tokens-per-sample", 64, "--batch-size", 8, "--optimizer", "adam", "--lr", 0.003,
        "--max-update", max_update, "--save-interval-updates", 3, "--save-dir", save_dir,
        "--log-format", "simple", "--log-interval", 1, "--cpu", "--seed", 3,
        *TINY_ARMIN, *extra,
    )


def logged_updates(output):
    return [int(n) for n in re.findall(r"num_updates[= ](\d+)", output)]


@pytest.fixture(scope="module")
def trained(ptb_char_slice, built_once):
    """A checkpoint dir after 6 updates of a real fairseq-train process (built once per run),
    and the training's stdout."""
    def build(folder):
        result = train(ptb_char_slice, folder / "checkpoints", 6, runner=fairseq)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        (folder / "stdout.txt").write_text(result.stdout)

    folder = built_once("cli_lm_trained", build)
    return folder / "checkpoints", (folder / "stdout.txt").read_text()


def test_train_writes_checkpoints(trained):
    save_dir, stdout = trained
    assert max(logged_updates(stdout)) == 6
    assert {"checkpoint_last.pt", "checkpoint_best.pt", "checkpoint_1_3.pt"} <= {
        p.name for p in save_dir.iterdir()
    }


def test_resume_continues_from_last_checkpoint(trained, ptb_char_slice, tmp_path):
    save_dir, _ = trained
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    (resumed_dir / "checkpoint_last.pt").write_bytes((save_dir / "checkpoint_last.pt").read_bytes())
    result = train(ptb_char_slice, resumed_dir, 9)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Loaded checkpoint" in result.stdout and "@ 6 updates" in result.stdout
    updates = logged_updates(result.stdout)
    assert min(updates) == 7 and max(updates) == 9


def test_a_job_leaves_a_run_that_spent_its_budget_alone(trained, tmp_path):
    """fairseq, resumed at its --max-update or --stop-time-hours, trains one more update
    first; the jobs' train() reads checkpoint_last.pt and does not start it."""
    save_dir, _ = trained
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name in ("checkpoint_last.pt", "checkpoint_best.pt"):
        (checkpoints / name).write_bytes((save_dir / name).read_bytes())
    facts = checkpoint_facts(checkpoints / "checkpoint_last.pt")
    assert facts.updates == 6 and facts.train_minutes > 0
    assert fairseq_runs.holds_budget(["--max-update", 6], facts)
    assert fairseq_runs.holds_budget(["--max-update=5", "--stop-time-hours", 0], facts)
    assert fairseq_runs.holds_budget(["--stop-time-hours", facts.train_minutes / 120], facts)
    for flags in ([], ["--max-update", 7], ["--max-update", 0], ["--stop-time-hours", 1],
                  ["--max-update", 6, "--max-update", 9]):
        assert not fairseq_runs.holds_budget(flags, facts), flags
    # no data: fairseq-train would fail, so the job returning means it was not started
    flags = [tmp_path / "no-data", "--max-update", 6, "--save-dir", checkpoints]
    assert fairseq_runs.train("tiny", flags, tmp_path / "run") == checkpoints / "checkpoint_best.pt"
    assert not (tmp_path / "run" / "train.log").exists()
    with pytest.raises(ArminError, match="fairseq-train of tiny failed"):
        fairseq_runs.train("tiny", [*flags, "--max-update", 7], tmp_path / "run")


def test_eval_lm_reports_base2_loss(trained, ptb_char_slice):
    save_dir, _ = trained
    result = fairseq(
        "eval-lm", ptb_char_slice, "--user-dir", PLUGIN, "--path", save_dir / "checkpoint_last.pt",
        "--gen-subset", "test", "--tokens-per-sample", 64, "--batch-size", 8, "--cpu",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    loss = float(re.search(r"Loss \(base 2\): ([0-9.]+)", output).group(1))
    tokens = int(re.search(r"Evaluated ([0-9,]+) tokens", output).group(1).replace(",", ""))
    assert 0 < loss < 5.8  # below uniform over the 56-symbol vocabulary, log2(56) = 5.8
    assert tokens == tokens_in(ptb_char_slice, "test")


def tokens_in(data, split):
    dataset = data_utils.load_indexed_dataset(str(data / split), None)
    return int(dataset.sizes.sum())  # dataset kept alive while its memory map is read


@pytest.mark.parametrize("search, runner", [(["--sampling", "--beam", 1, "--sampling-topk", 5], fairseq),
                                            (["--beam", 4], fairseq_in_process)], ids=["sampling", "beam"])
def test_generate_continues_prefixes(trained, ptb_char_slice, search, runner):
    save_dir, _ = trained
    result = runner(
        "generate", ptb_char_slice, "--user-dir", PLUGIN, "--task", "language_modeling",
        "--path", save_dir / "checkpoint_last.pt", "--gen-subset", "valid",
        "--sample-break-mode", "eos", "--tokens-per-sample", 512, "--prefix-size", 4,
        "--max-len-b", 12, "--batch-size", 16, "--max-sentences", 16, "--cpu", "--seed", 1,
        *search,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    hypotheses = re.findall(r"^H-(\d+)\t(\S+)\t(.*)$", result.stdout, flags=re.M)
    sources = dict(re.findall(r"^S-(\d+)\t(.*)$", result.stdout, flags=re.M))
    assert len(hypotheses) == 120
    for index, score, text in hypotheses:
        assert float(score) < 0
        assert text.split()[:4] == sources[index].split()[:4]  # continues the given prefix


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--armin-slots", 0], "error: --armin-slots must be a positive integer, got 0"),
        (["--armin-hidden-size", 0], "error: --armin-hidden-size must be a positive integer, got 0"),
        (["--armin-tau-start", 0], "error: --armin-tau-start must be positive, got 0.0"),
        (["--armin-tau-end", 2], "error: --armin-tau-end 2.0 is above --armin-tau-start 1.0"),
    ],
)
def test_impossible_sizes_stop_fairseq_train_with_one_line(ptb_char_slice, tmp_path, flags, message):
    result = train(ptb_char_slice, tmp_path / "ck", 1, *flags)
    assert_one_line_error(result, message, only_line=False)
    assert not (tmp_path / "ck" / "checkpoint_last.pt").exists()


def test_main_job_refuses_missing_data_dir(tmp_path):
    result = python_module("armin_plugin.jobs.compare_lm", "--data", tmp_path / "nowhere", "--out", tmp_path / "runs")
    assert_one_line_error(result, f"data directory {tmp_path / 'nowhere'} does not exist")
    assert not (tmp_path / "runs").exists()


def test_main_job_refuses_incomplete_data_dir(ptb_char_slice, tmp_path):
    incomplete = tmp_path / "ptb_char"
    incomplete.mkdir()
    for name in ("dict.txt", "train.bin", "train.idx", "valid.bin", "valid.idx"):
        (incomplete / name).write_bytes((ptb_char_slice / name).read_bytes())
    result = module_in_process("armin_plugin.jobs.compare_lm", "--data", incomplete, "--out", tmp_path / "runs")
    assert_one_line_error(result, "lacks test.bin, test.idx")


def test_hub_interface_samples_and_scores(trained, ptb_char_slice):
    from armin_plugin.models.armin_lm import ARMINLanguageModel

    save_dir, _ = trained
    hub = ARMINLanguageModel.from_pretrained(
        str(save_dir), "checkpoint_last.pt", str(ptb_char_slice), user_dir=PLUGIN
    ).eval()
    prefix = "t h e _"
    sample = hub.sample(prefix, beam=1, sampling=True, sampling_topk=5, max_len_b=10, seed=1)
    assert sample.startswith(prefix) and len(sample.split()) > len(prefix.split())
    scores = hub.score(prefix)["positional_scores"]
    assert scores.shape == (len(prefix.split()),) and (scores < 0).all()  # one per predicted token
