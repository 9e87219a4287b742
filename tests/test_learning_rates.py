"""The comparison jobs' plans: each model at its own learning rate (--armin-lr / --lstm-lr,
--lr for both, the preset's rates otherwise: armin_plugin/jobs/learning_rates.py), and the
runs one asks for."""
import pytest

from armin_plugin.errors import ArminError
from armin_plugin.jobs import compare_algorithmic, compare_lm, compare_pixel_mnist, compare_translation
from armin_plugin.jobs.fairseq_runs import chosen_runs


def lm_rates(argv):
    args = compare_lm.parse_args(argv)
    return {run.name: run.lr for run in compare_lm.plan_runs(args.plan, args.sizes, 50, 1, args.armin_lr, args.lstm_lr)}


def test_compare_lm_trains_each_model_at_its_own_rate_and_lr_sets_both():
    quick = compare_lm.PRESETS["quick"]
    assert lm_rates([]) == {"ARMIN": quick["armin_lr"], "ARMIN-paper": quick["armin_lr"], "LSTM": quick["lstm_lr"]}
    assert lm_rates(["--lr", "0.001"]) == {"ARMIN": 0.001, "ARMIN-paper": 0.001, "LSTM": 0.001}
    assert lm_rates(["--lr", "0.001", "--lstm-lr", "0.004"]) == {"ARMIN": 0.001, "ARMIN-paper": 0.001, "LSTM": 0.004}
    assert lm_rates(["--plan", "stream", "--armin-lr", "0.008"]) == {
        "ARMIN-stream": 0.008, "ARMIN-blocks": 0.008, "LSTM-stream": quick["lstm_lr"]}


def translation_rates(argv):
    args = compare_translation.parse_args(argv)
    return {name: compare_translation.model_rate(args, name) for name in compare_translation.RUNS}


def test_compare_translation_trains_each_model_at_its_own_rate():
    quick, full = compare_translation.PRESETS["quick"], compare_translation.PRESETS["full"]
    assert translation_rates([]) == {"ARMIN": quick["armin_lr"], "LSTM": quick["lstm_lr"]}
    assert translation_rates(["--preset", "full"]) == {"ARMIN": full["armin_lr"], "LSTM": full["lstm_lr"]}
    assert translation_rates(["--lr", "0.002", "--armin-lr", "0.02"]) == {"ARMIN": 0.02, "LSTM": 0.002}


def test_compare_algorithmic_and_pixel_mnist_train_each_model_at_its_own_rate():
    def algorithmic_rates(argv):
        args = compare_algorithmic.parse_args(argv)
        return {task: {f"{model}_lr": compare_algorithmic.task_rate(args, task, model)
                       for model in compare_algorithmic.MODELS} for task in args.tasks}

    def preset_rates(presets):
        return {task: preset.rates for task, preset in presets.items()}

    assert algorithmic_rates([]) == preset_rates(compare_algorithmic.TASK_PRESETS)  # each model's own rate per task
    paper_rates = preset_rates(compare_algorithmic.PAPER_CELL_PRESETS)
    assert algorithmic_rates(["--armin-paper-cell"]) == paper_rates  # the paper's cell's
    # the rates differ from task to task (the paper's cell: 3e-3 on the copies, 1e-2 on recall)
    assert len({rates["armin_lr"] for rates in paper_rates.values()}) > 1
    assert algorithmic_rates(["--armin-lr", "0.004", "--tasks", "copy,associative_recall"]) == {
        task: dict(armin_lr=0.004, lstm_lr=compare_algorithmic.TASK_PRESETS[task].lstm_lr)
        for task in ("copy", "associative_recall")}
    assert algorithmic_rates(["--lr", "0.002", "--tasks", "repeat_copy"]) == {
        "repeat_copy": dict(armin_lr=0.002, lstm_lr=0.002)}
    args = compare_pixel_mnist.parse_args(["--lr", "0.002", "--lstm-lr", "0.003"])
    assert (args.armin_lr, args.lstm_lr) == (0.002, 0.003)


@pytest.mark.parametrize("job", [compare_lm, compare_translation, compare_algorithmic, compare_pixel_mnist])
def test_a_rate_that_is_not_positive_is_one_line(job, capsys):
    with pytest.raises(SystemExit):
        job.parse_args(["--lstm-lr", "0"])
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith("--lstm-lr must be positive, got 0.0")


def test_compare_lm_trains_the_runs_it_is_given():
    runs = compare_lm.plan_runs("main", compare_lm.PRESETS["quick"], 50, 1, 0.1, 0.2)
    assert [run.name for run in chosen_runs(runs, "LSTM,ARMIN")] == ["ARMIN", "LSTM"]
    assert chosen_runs(runs, None) == runs
    with pytest.raises(ArminError, match="--runs: unknown ARMIN-x; this job has ARMIN, ARMIN-paper, LSTM"):
        chosen_runs(runs, "ARMIN-x")


def test_the_lr_schedule_decays_over_the_job_s_budget():
    from armin_plugin.jobs.learning_rates import schedule_flags

    assert compare_lm.parse_args([]).lr_schedule == "constant"  # too early a decay for 3.5 minutes (docs/study.md)
    assert compare_lm.parse_args(["--lr-schedule", "cosine"]).lr_schedule == "cosine"
    assert schedule_flags("cosine", 3.5, 0) == ["--lr-scheduler", "cosine_over_time"]
    assert schedule_flags("cosine", 0, 2000) == ["--lr-scheduler", "cosine", "--lr-period-updates", 2000]
    assert schedule_flags("constant", 3.5, 0) == []
    assert compare_algorithmic.parse_args([]).schedule == []  # the algorithmic tables' constant rates
    assert compare_algorithmic.parse_args(["--lr-schedule", "cosine"]).schedule == ["--lr-scheduler", "cosine_over_time"]
    assert compare_translation.parse_args([]).schedule == []  # constant: the better of the two in 5 minutes (docs/translation.md)
    assert compare_translation.parse_args(["--minutes", "0", "--max-update", "100", "--lr-schedule", "cosine"]).schedule == [
        "--lr-scheduler", "cosine", "--lr-period-updates", 100]
    with pytest.raises(ArminError, match="--lr-schedule cosine decays over the run's budget"):
        compare_lm.parse_args(["--minutes", "0", "--lr-schedule", "cosine"])
