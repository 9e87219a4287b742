"""The armin_algorithmic task: generated sequences, the bit-error metric, and fairseq's CLIs."""
import re
import shutil

import numpy as np
import pytest
import torch
from helpers import PLUGIN, assert_one_line_error, fairseq_in_process, module_in_process, python_module

from armin_plugin.data.algorithmic import (
    AlgorithmSpec,
    ExampleSource,
    associative_recall_example,
    copy_example,
    repeat_copy_example,
)
from armin_plugin.errors import ArminError


def as_lists(example):
    return [a.tolist() for a in example]


# --- examples from given contents, checked against layouts written out by hand ------------


def test_copy_layout():
    inputs, targets, mask = as_lists(copy_example([[1, 0, 1], [0, 1, 1]]))
    assert inputs == [
        [1, 0, 1, 0],
        [0, 1, 1, 0],
        [0, 0, 0, 1],  # delimiter
        [0, 0, 0, 0],
        [0, 0, 0, 0],
    ]
    assert targets == [[0, 0, 0], [0, 0, 0], [0, 0, 0], [1, 0, 1], [0, 1, 1]]
    assert mask == [False, False, False, True, True]


def test_repeat_copy_layout():
    inputs, targets, mask = as_lists(repeat_copy_example([[1, 0], [0, 1]], repeats=2, repeat_scale=4))
    assert inputs == [
        [1, 0, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],  # delimiter
        [0, 0, 0, 0.5],  # repeat count 2 / scale 4
    ] + [[0, 0, 0, 0]] * 5
    assert targets == [[0, 0, 0]] * 4 + [
        [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0],
        [0, 0, 1],  # end marker
    ]
    assert mask == [False] * 4 + [True] * 5


def test_associative_recall_layout():
    items = [[[1, 0]], [[0, 1]], [[1, 1]]]  # three items of one 2-bit vector
    inputs, targets, mask = as_lists(associative_recall_example(items, query=1))
    assert inputs == [
        [0, 0, 1, 0], [1, 0, 0, 0],  # item 0
        [0, 0, 1, 0], [0, 1, 0, 0],  # item 1
        [0, 0, 1, 0], [1, 1, 0, 0],  # item 2
        [0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 1],  # query: item 1
        [0, 0, 0, 0],
    ]
    assert targets == [[0, 0]] * 9 + [[1, 1]]  # the item after item 1
    assert mask == [False] * 9 + [True]
    with pytest.raises(ArminError, match="query must be one of the first 2 items"):
        associative_recall_example(items, query=2)


# --- the seeded generator ------------------------------------------------------------------


def test_first_copy_sequence_of_seed_1_is_pinned():
    """Validation sets must not change silently between versions."""
    source = ExampleSource(AlgorithmSpec("copy", width=4, min_length=2, max_length=3), 3, 1, "valid", True)
    inputs, targets, mask = source[0]
    assert inputs[:, :4].astype(int).tolist()[:3] == [[1, 1, 0, 1], [0, 0, 1, 0], [1, 0, 0, 1]]
    assert as_lists(source[0]) == as_lists(copy_example(inputs[:3, :4]))


@pytest.mark.parametrize("algorithm", ["copy", "repeat_copy", "associative_recall"])
def test_generated_sequences_follow_the_layout(algorithm):
    spec = AlgorithmSpec(algorithm, width=5, min_length=2, max_length=4, min_repeats=1,
                         max_repeats=3, repeat_scale=3.0, item_size=2)
    source = ExampleSource(spec, 60, 5, "valid", fixed=True)
    lengths = set()
    for index in range(len(source)):
        example = source[index]
        inputs = example.inputs
        length, repeats = source.shapes[index]
        lengths.add(length)
        assert 2 <= length <= 4 and 1 <= repeats <= 3
        assert len(inputs) == source.sizes[index] == spec.steps(length, repeats)
        assert inputs.shape[1] == spec.input_size and example.targets.shape[1] == spec.output_size
        assert set(np.unique(example.targets)) <= {0.0, 1.0}
        assert not inputs[example.mask].any()  # nothing to read while answering
        if algorithm == "copy":
            rebuilt = copy_example(inputs[:length, :5])
        elif algorithm == "repeat_copy":
            assert inputs[length + 1, 6] * 3.0 == pytest.approx(repeats)
            rebuilt = repeat_copy_example(inputs[:length, :5], repeats, 3.0)
        else:
            items = inputs[: length * 3].reshape(length, 3, 7)[:, 1:, :5]
            assert len({item.tobytes() for item in items}) == length  # distinct items
            query_item = inputs[length * 3 + 1: length * 3 + 3, :5]
            query = [i for i in range(length) if (items[i] == query_item).all()]
            assert len(query) == 1 and query[0] < length - 1
            rebuilt = associative_recall_example(items, query[0])
        assert as_lists(example) == as_lists(rebuilt)
    assert lengths == {2, 3, 4}


def test_fixed_splits_repeat_and_training_splits_change_by_epoch():
    spec = AlgorithmSpec("copy", width=8, min_length=3, max_length=6)
    valid = ExampleSource(spec, 8, 1, "valid", fixed=True)
    again = ExampleSource(spec, 8, 1, "valid", fixed=True)
    train = ExampleSource(spec, 8, 1, "train", fixed=False)
    first = [as_lists(train[i]) for i in range(8)]
    valid.epoch = train.epoch = 2
    assert all(as_lists(valid[i]) == as_lists(again[i]) for i in range(8))
    second = [as_lists(train[i]) for i in range(8)]
    assert first != second and [len(e[0]) for e in first] == [len(e[0]) for e in second]
    other_seed = ExampleSource(spec, 8, 2, "valid", fixed=True)
    assert [as_lists(other_seed[i]) for i in range(8)] != [as_lists(again[i]) for i in range(8)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(width=0), "--width must be a positive integer, got 0"),
        (dict(min_length=5, max_length=3), "--min-length 5 is above --max-length 3: the range is empty"),
        (dict(min_length=0), "--min-length must be at least 1, got 0"),
        (dict(algorithm="associative_recall", min_length=1), "--min-length must be at least 2, got 1"),
        (dict(algorithm="repeat_copy", min_repeats=4, max_repeats=2), "--min-repeats 4 is above --max-repeats 2"),
        (dict(algorithm="sort"), "--algorithm must be one of copy, repeat_copy, associative_recall"),
    ],
)
def test_impossible_specs_are_refused(kwargs, message):
    with pytest.raises(ArminError, match=re.escape(message)):
        AlgorithmSpec(**kwargs)


# --- the metric ------------------------------------------------------------------------------


def test_bit_errors_on_hand_made_predictions():
    from armin_plugin.criterions.algorithmic_bits import AlgorithmicBitsCriterion, bit_errors_per_sequence

    target = torch.tensor([[[1, 0], [1, 1], [0, 0]], [[0, 1], [1, 0], [1, 1]]], dtype=torch.float)
    mask = torch.tensor([[False, True, True], [False, True, True]])
    logits = torch.tensor(
        [
            [[-5.0, 5.0], [3.0, 2.0], [-1.0, -2.0]],  # step 0 wrong twice but not an answer: 0
            [[9.0, 9.0], [-1.0, 0.0], [2.0, -3.0]],  # 1 wrong (logit 0 means bit 0) + 1 wrong: 2
        ]
    )
    assert bit_errors_per_sequence(logits, target, mask).tolist() == [0, 2]

    class Fixed(torch.nn.Module):
        def forward(self, src_inputs, src_lengths):
            return logits

    sample = {"net_input": {"src_inputs": None, "src_lengths": None}, "target": target, "target_mask": mask}
    loss, sample_size, log = AlgorithmicBitsCriterion(task=None)(Fixed(), sample)
    answer = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 1:], target[:, 1:], reduction="sum")
    assert loss.item() == pytest.approx(answer.item())
    assert (sample_size, log["bit_errors"], log["correct"], log["ntokens"]) == (2, 2, 1, 4)

    from fairseq import metrics

    with metrics.aggregate() as aggregated:
        AlgorithmicBitsCriterion.reduce_metrics([log, dict(log, bit_errors=6, correct=0)])
    values = aggregated.get_smoothed_values()
    assert values["bit_errors"] == pytest.approx(2.0)  # (2 + 6) errors / 4 sequences
    assert values["seq_acc"] == pytest.approx(0.25)
    assert values["loss"] == pytest.approx(answer.item() / 2 / np.log(2), rel=1e-3)  # bits/seq


# --- through fairseq's CLIs (their entry functions, in this process) ----------------------------


def train(save_dir, *extra):
    return fairseq_in_process(
        "train", "--user-dir", PLUGIN, "--task", "armin_algorithmic", "--criterion", "algorithmic_bits",
        "--optimizer", "adam", "--lr", 0.01, "--batch-size", 8, "--train-size", 32, "--valid-size", 16,
        "--valid-subset", "valid,valid_long", "--max-update", 6, "--log-format", "simple",
        "--log-interval", 1, "--cpu", "--num-workers", 0, "--seed", 2, "--no-epoch-checkpoints",
        "--best-checkpoint-metric", "bit_errors", "--save-dir", save_dir, *extra,
    )


def logged(output, subset, key):
    return [float(v) for v in re.findall(rf"valid on '{subset}' subset \|.* {key} ([0-9.]+)", output)]


@pytest.mark.slow
def test_tiny_armin_trains_and_validates_through_fairseq(tmp_path):
    result = train(tmp_path, "--algorithm", "repeat_copy", "--arch", "armin_algorithmic_tiny")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout
    assert max(int(n) for n in re.findall(r"num_updates=(\d+)", output)) == 6
    errors, long_errors = logged(output, "valid", "bit_errors"), logged(output, "valid_long", "bit_errors")
    assert errors and long_errors and logged(output, "valid", "seq_acc")
    assert long_errors[-1] > errors[-1]  # longer sequences, more bits to get wrong
    # how the memory was read, in the training and validation logs as for armin_lm (4 slots)
    slots_read = logged(output, "valid", "armin_slots_read")
    assert slots_read and all(1 <= value <= 4 for value in slots_read)
    assert logged(output, "valid", "armin_read_age") and re.search(r"armin_entropy=[0-9.]+", output)
    result = fairseq_in_process(
        "validate", "--user-dir", PLUGIN, "--task", "armin_algorithmic",
        "--path", tmp_path / "checkpoint_last.pt", "--valid-subset", "valid,valid_long",
        "--batch-size", 8, "--cpu",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # the same fixed sequences as the last validation during training
    assert logged(result.stdout, "valid_long", "bit_errors") == long_errors[-1:]


def algorithmic_task(**overrides):
    from armin_plugin.tasks.armin_algorithmic import AlgorithmicConfig, AlgorithmicTask

    cfg = AlgorithmicConfig(seed=1, train_size=16, valid_size=8)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return AlgorithmicTask.setup_task(cfg)


def test_lstm_baseline_matches_a_parameter_budget():
    from armin_plugin.models.algorithmic import LSTMAlgorithmicConfig, LSTMAlgorithmicModel
    from armin_plugin.modules.sizing import lstm_params

    task = algorithmic_task(algorithm="associative_recall")
    model = LSTMAlgorithmicModel.build_model(LSTMAlgorithmicConfig(lstm_params=50000), task)
    count = sum(p.numel() for p in model.parameters())
    hidden = model.lstm.hidden_size
    assert count == lstm_params(10, hidden, 8)  # 8 bits + 2 delimiter channels in, 8 bits out
    assert abs(count - 50000) <= abs(lstm_params(10, hidden + 1, 8) - 50000)
    assert abs(count - 50000) <= abs(lstm_params(10, hidden - 1, 8) - 50000)
    task.load_dataset("valid_long")
    dataset = task.dataset("valid_long")
    batch = dataset.collater([dataset[i] for i in range(4)])
    logits = model(**batch["net_input"])
    assert logits.shape == batch["target"].shape
    assert batch["net_input"]["src_inputs"].shape[1] == int(max(dataset.sizes[:4]))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(width=0), "--width must be a positive integer, got 0"),
        (dict(min_length=4, max_length=2), "--min-length 4 is above --max-length 2: the range is empty"),
        (dict(algorithm="associative_recall", long_min_length=1), "--long-min-length must be at least 2, got 1"),
        (dict(algorithm="repeat_copy", long_max_repeats=0), "--long-min-repeats 6 is above --long-max-repeats 0"),
        (dict(train_size=0), "--train-size must be a positive integer, got 0"),
    ],
)
def test_task_refuses_impossible_flags(overrides, message):
    with pytest.raises(ArminError, match=re.escape(message)):
        algorithmic_task(**overrides)


@pytest.mark.slow
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--long-min-length", 9, "--long-max-length", 4],
         "error: --long-min-length 9 is above --long-max-length 4: the range is empty"),
        (["--criterion", "cross_entropy"], "error: --task armin_algorithmic is trained with --criterion algorithmic_bits"),
    ],
)
def test_bad_flags_stop_fairseq_train_with_one_line(tmp_path, flags, message):
    result = train(tmp_path, "--arch", "lstm_algorithmic_tiny", *flags)
    assert_one_line_error(result, message, only_line=False)
    assert not (tmp_path / "checkpoint_last.pt").exists()


def test_report_refuses_unknown_task(tmp_path):
    result = module_in_process("armin_plugin.jobs.compare_algorithmic", "--tasks", "sort", "--out", tmp_path / "r")
    assert result.returncode == 2 and "error: --tasks: unknown sort" in result.stderr
    assert not (tmp_path / "r").exists()


def test_the_job_refuses_a_negative_temperature_horizon(capsys):
    from armin_plugin.jobs import compare_algorithmic as job

    with pytest.raises(SystemExit):
        job.parse_args(["--tau-updates", "-1"])
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("--tau-updates must be >= 0, got -1")


# compare_algorithmic on copy, ARMIN only, a few updates of a tiny model
TINY_JOB = ["--tasks", "copy", "--models", "armin", "--minutes", "0.5", "--max-update", "4", "--train-size", "64",
            "--valid-size", "8", "--validate-every", "2", "--armin-hidden-size", "8", "--armin-slot-size", "4",
            "--armin-slots", "2"]


@pytest.fixture(scope="module")
def tiny_job(tmp_path_factory):
    """compare_algorithmic --lr-schedule cosine as a real process (ARMIN on copy, 4 updates):
    its --out folder."""
    out = tmp_path_factory.mktemp("algorithmic") / "r"
    result = python_module("armin_plugin.jobs.compare_algorithmic", "--out", out, *TINY_JOB, "--lr-schedule", "cosine")
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.mark.slow
def test_the_job_trains_under_the_lr_schedule_it_is_given(tiny_job):
    """The run decays along the time budget (cosine_over_time), and the table says so."""
    assert "'lr_scheduler': {'_name': 'cosine_over_time'" in (tiny_job / "copy" / "armin" / "train.log").read_text()
    assert "half a cosine over the budget (--lr-schedule cosine)" in (tiny_job / "results.md").read_text()


@pytest.mark.slow
def test_the_job_prints_its_own_table_when_a_job_beside_it_rewrites_the_shared_one(tiny_job, tmp_path, monkeypatch,
                                                                                  capsys):
    """Two jobs sharing --out (the docs train ARMIN and the LSTM side by side that way): each
    prints the table of its own runs, even when the other rewrites results.md just after.
    (Here the job runs again on a copy of the tiny job's runs, which hold their budget.)"""
    from armin_plugin.jobs import compare_algorithmic as job

    render = job.render

    def raced(results, out):
        paths = render(results, out)
        paths[0].write_text("the table of the job beside it\n")
        return paths

    monkeypatch.setattr(job, "render", raced)
    out = shutil.copytree(tiny_job, tmp_path / "r")
    job.main(["--out", str(out), *TINY_JOB, "--lr-schedule", "cosine"])
    printed = capsys.readouterr().out
    assert "job beside it" not in printed
    assert "| copy | ARMIN |" in printed


def test_the_job_trains_the_cell_the_study_chose_per_task():
    """ARMIN with TARDIS's mask and the content address on associative recall (TASK_PRESETS),
    at that cell's rate, the paper's cell on the other tasks and, with --armin-paper-cell, on
    every task at its own rates; the LSTM has the parameter count of the ARMIN it faces."""
    from armin_plugin.jobs import compare_algorithmic as job
    from armin_plugin.models.algorithmic import ARMINAlgorithmicConfig, ARMINAlgorithmicModel

    shipped, paper = job.parse_args([]), job.parse_args(["--armin-paper-cell"])
    recall = job.model_flags(shipped, "associative_recall", "armin")
    assert "--armin-no-reread" in recall and "--armin-content-address" in recall
    assert job.task_rate(shipped, "associative_recall", "armin") == 0.003
    assert job.task_rate(paper, "associative_recall", "armin") == 0.01
    for task in ("copy", "repeat_copy"):
        assert job.model_flags(shipped, task, "armin") == job.model_flags(paper, task, "armin")
        assert job.model_flags(shipped, task, "lstm") == job.model_flags(paper, task, "lstm")
    for task in job.ALGORITHMS:
        flags = job.model_flags(paper, task, "armin")
        assert "--armin-no-reread" not in flags and "--armin-content-address" not in flags
        assert job.task_rate(shipped, task, "lstm") == job.task_rate(paper, task, "lstm")
    # the shipped recall cell's temperature anneals over 10,000 updates, every other run's over
    # 2,000 (TASK_PRESETS), unless --tau-updates says otherwise
    def tau(args, task):
        flags = job.model_flags(args, task, "armin")
        return flags[flags.index("--armin-tau-updates") + 1]

    assert tau(shipped, "associative_recall") == 10000
    assert [tau(shipped, task) for task in ("copy", "repeat_copy")] == [2000, 2000]
    assert [tau(paper, task) for task in job.ALGORITHMS] == [2000, 2000, 2000]
    assert tau(job.parse_args(["--tau-updates", "500"]), "associative_recall") == 500
    # the LSTM's --lstm-params is the count of the ARMIN model that trains, W_q and b_q included
    # (d_r (d_x + d_h + 1) = 32 x 75)
    for args, count in ((shipped, 49832), (paper, 47432)):
        lstm = job.model_flags(args, "associative_recall", "lstm")
        assert lstm[lstm.index("--lstm-params") + 1] == count
    cfg = ARMINAlgorithmicConfig(armin_no_reread=True, armin_content_address=True)
    model = ARMINAlgorithmicModel.build_model(cfg, algorithmic_task(algorithm="associative_recall"))
    assert sum(p.numel() for p in model.parameters()) == 49832
    # the table's title says which cell ARMIN trained
    assert job.armin_cell_words(shipped) == "with --armin-no-reread --armin-content-address on associative recall"
    assert job.armin_cell_words(paper) == job.armin_cell_words(job.parse_args(["--tasks", "copy"])) == (
        "as in the paper on every task")
