"""A first look above the learning rates measured before the study tool existed
(docs/studies/ptb-char-variants.md):
ARMIN with 16 slots (586k parameters) and the LSTM of its parameter count (587k) at Adam lr
8e-3 (the best of 2e-3, 4e-3 and 8e-3 for both there) and 16e-3; seeds 1 and 2; 1,000 updates of 32 x 150
characters on PTB-char streams. The sizes and flags are lr_sweep.py's, which runs the whole
sweep to 2,000 updates.

    bash recipes/study.sh lr_high     # 8 runs, two at once on 2 cores
"""
ARMIN16 = ["--arch", "armin_lm", "--decoder-embed-dim", 64, "--armin-hidden-size", 256,
           "--armin-slot-size", 64, "--armin-slots", 16, "--dropout", 0.1]
LSTM = ["--arch", "lstm_stream_lm", "--decoder-embed-dim", 64, "--decoder-hidden-size", 344, "--dropout", 0.1]

GRID = dict(
    title="ARMIN (16 slots) and the equal-parameter LSTM at lr 8e-3 and 16e-3, PTB-char streams, quick sizes.",
    flags=["--tokens-per-sample", 150, "--batch-size", 32, "--optimizer", "adam", "--clip-norm", 1.0],
    variants={f"{model}-lr{name}": [*flags, "--lr", rate]
              for model, flags in (("armin16", ARMIN16), ("lstm", LSTM))
              for name, rate in (("8e-3", 0.008), ("16e-3", 0.016))},
    seeds=[1, 2],
    max_update=1000,
    report_at=[250, 500, 1000],
)
