"""The learning-rate sweep on PTB-char streams (the setup of
docs/studies/ptb-char-variants.md, at the main job's quick sizes): ARMIN with 16 slots (586k parameters),
ARMIN with 1 slot, and the LSTM of ARMIN's parameter count (587k), each at Adam lr 2e-3,
4e-3, 8e-3 and 16e-3; seeds 1 and 2; 2,000 updates of 32 x 150 characters.

    bash recipes/study.sh lr_sweep    # 24 runs, 25 to 45 minutes each when two run at once on
                                      # 2 cores (the 2,000-update runs of the study)
"""
ARMIN = ["--arch", "armin_lm", "--decoder-embed-dim", 64, "--armin-hidden-size", 256,
         "--armin-slot-size", 64, "--dropout", 0.1]
MODELS = {
    "armin16": [*ARMIN, "--armin-slots", 16],
    "armin1": [*ARMIN, "--armin-slots", 1],
    "lstm": ["--arch", "lstm_stream_lm", "--decoder-embed-dim", 64, "--decoder-hidden-size", 344, "--dropout", 0.1],
}
RATES = {"2e-3": 0.002, "4e-3": 0.004, "8e-3": 0.008, "16e-3": 0.016}

GRID = dict(
    title="Learning rate per model, PTB-char streams, quick sizes.",
    flags=["--tokens-per-sample", 150, "--batch-size", 32, "--optimizer", "adam", "--clip-norm", 1.0],
    variants={f"{model}-lr{name}": [*flags, "--lr", rate]
              for model, flags in MODELS.items() for name, rate in RATES.items()},
    seeds=[1, 2],
    max_update=2000,
    report_at=[250, 500, 1000, 2000],
)
