"""The learning rate of each model on the algorithmic recipe's three tasks: the
recipe's ARMIN (d_h 64, d_r 32, 32 slots) and the LSTM of its parameter count, exactly as
``python -m armin_plugin.jobs.compare_algorithmic`` trains them, each at Adam lr 1e-3 (the
recipe's rate before this study), 3e-3, 1e-2 and 3e-2; seeds 1 and 2; 3,000 updates of 32
sequences; bit errors per sequence at the training lengths (valid).

    bash recipes/study.sh algorithmic_lr --jobs 2    # 48 runs, about 20 minutes on 2 cores
"""
from armin_plugin.jobs import compare_algorithmic as job

RECIPE = job.parse_args(["--armin-paper-cell"])  # the recipe's defaults, the paper's cell
RATES = {"1e-3": 0.001, "3e-3": 0.003, "1e-2": 0.01, "3e-2": 0.03}

GRID = dict(
    title="Algorithmic tasks: Adam learning rate per model (bit errors per sequence, training lengths).",
    data=None,
    task=["--task", "armin_algorithmic", "--criterion", "algorithmic_bits", "--train-size", RECIPE.train_size,
          "--valid-size", RECIPE.valid_size, "--valid-subset", ",".join(job.SUBSETS),
          "--best-checkpoint-metric", "bit_errors", "--num-workers", 0],
    flags=["--optimizer", "adam", "--clip-norm", RECIPE.clip_norm, "--batch-size", RECIPE.batch_size],
    variants={f"{task}-{model}-lr{name}": ["--algorithm", task, *job.model_flags(RECIPE, task, model), "--lr", rate]
              for task in job.ALGORITHMS for model in job.MODELS for name, rate in RATES.items()},
    seeds=[1, 2],
    max_update=3000,
    report_at=[1000, 2000, 3000],
    metric="bit_errors",
    log_interval=100,
)
