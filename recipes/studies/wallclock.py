"""ARMIN as shipped (16 slots, 586k parameters) and the LSTM of its parameter count (587k) at an
equal wall-clock budget on PTB-char streams: each trains for two hours (fairseq's
--stop-time-hours, which counts training time across resumes), one thread, both at once on
the 2 cores; lr 8e-3, the best rate of both (docs/study.md); valid BPC on the whole valid
split every 500 updates and when the time runs out. The run with the lower BPC at the end
is ahead at equal time; the curves (curves.png, against training minutes as well as
updates in results.json) say whether ARMIN catches up or falls behind.

    bash recipes/study.sh wallclock     # 2 runs, two hours each, both at once

The 15-minute pairs of docs/study.md are the same runs with --stop-time-hours 0.25.
"""
ARMIN16 = ["--arch", "armin_lm", "--decoder-embed-dim", 64, "--armin-hidden-size", 256,
           "--armin-slot-size", 64, "--armin-slots", 16, "--dropout", 0.1]
LSTM = ["--arch", "lstm_stream_lm", "--decoder-embed-dim", 64, "--decoder-hidden-size", 344, "--dropout", 0.1]

GRID = dict(
    title="ARMIN (16 slots) and the equal-parameter LSTM for two hours each, PTB-char streams, quick sizes, lr 8e-3.",
    flags=["--tokens-per-sample", 150, "--batch-size", 32, "--optimizer", "adam", "--lr", 0.008,
           "--clip-norm", 1.0, "--stop-time-hours", 2],
    variants={"armin16": ARMIN16, "lstm": LSTM},
    seeds=[1],
    max_update=100000,
    report_at=[500, 1000, 2000, 4000, 6000],
)
