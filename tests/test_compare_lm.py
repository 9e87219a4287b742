"""compare_lm's plan: each model at its own learning rate."""
from armin_plugin.jobs import compare_lm


def rates(argv):
    args = compare_lm.parse_args(argv)
    return {run.name: run.lr for run in compare_lm.plan_runs(args.plan, args.sizes, 50, args.armin_lr, args.lstm_lr)}


def test_each_model_trains_at_its_own_rate_and_lr_sets_both():
    quick = compare_lm.PRESETS["quick"]
    assert rates([]) == {"ARMIN": quick["armin_lr"], "LSTM": quick["lstm_lr"]}
    assert rates(["--lr", "0.001"]) == {"ARMIN": 0.001, "LSTM": 0.001}
    assert rates(["--lr", "0.001", "--lstm-lr", "0.004"]) == {"ARMIN": 0.001, "LSTM": 0.004}
    assert rates(["--plan", "stream", "--armin-lr", "0.008"]) == {
        "ARMIN-stream": 0.008, "ARMIN-blocks": 0.008, "LSTM-stream": quick["lstm_lr"]}
