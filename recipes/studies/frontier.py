"""How much LSTM does ARMIN replace? The efficiency frontier on PTB-char streams: ARMIN (16
slots) at 0.59M and 1.20M parameters, the LSTM (`lstm_stream_lm`) at 0.59M, 1.20M and 2.40M,
each at Adam lr 8e-3 and 4e-3 (bigger models may want the lower one), the same half cosine
to 0 over an equal wall-clock budget of 15 minutes (--lr-scheduler cosine_over_time), one
thread each, two at once on the 2 cores, seeds 1 and 2: 20 runs, about 2.5 hours. Valid BPC
on the whole valid split every 250 updates and when the time runs out; each model is read at
its better rate.

    armin-study frontier --jobs 2
    armin-study frontier --variants armin12-lr8e-3,lstm24-lr4e-3 --jobs 2   # one pair

Parameter counts (embedding 64, vocabulary 56): armin06 586,504 (d_h 256, d_r 64), armin12
1,198,480 (d_h 384, d_r 88); lstm06 587,064 (344 units), lstm12 1,198,456 (508), lstm24
2,399,740 (735).
"""
EMBED = ["--decoder-embed-dim", 64, "--dropout", 0.1]
MODELS = {
    "armin06": ["--arch", "armin_lm", "--armin-hidden-size", 256, "--armin-slot-size", 64, "--armin-slots", 16],
    "armin12": ["--arch", "armin_lm", "--armin-hidden-size", 384, "--armin-slot-size", 88, "--armin-slots", 16],
    "lstm06": ["--arch", "lstm_stream_lm", "--decoder-hidden-size", 344],
    "lstm12": ["--arch", "lstm_stream_lm", "--decoder-hidden-size", 508],
    "lstm24": ["--arch", "lstm_stream_lm", "--decoder-hidden-size", 735],
}
RATES = {"8e-3": 0.008, "4e-3": 0.004}

GRID = dict(
    title="The efficiency frontier: ARMIN at 0.6M and 1.2M parameters, the LSTM at 0.6M, 1.2M and 2.4M, "
          "15 minutes each under a cosine over the time, PTB-char streams.",
    flags=["--tokens-per-sample", 150, "--batch-size", 32, "--optimizer", "adam", "--clip-norm", 1.0,
           "--lr-scheduler", "cosine_over_time", "--stop-time-hours", 0.25],
    variants={f"{model}-lr{name}": [*flags, *EMBED, "--lr", rate]
              for model, flags in MODELS.items() for name, rate in RATES.items()},
    seeds=[1, 2],
    max_update=100000,
    report_at=[250, 500, 750, 1000, 1250, 1500],
)
