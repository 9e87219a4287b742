"""Each model of a comparison job at its own Adam learning rate: the ``--lr``, ``--armin-lr``
and ``--lstm-lr`` flags every job shares (a fair comparison trains each model at its best
rate, docs/studies/ptb-char-variants.md), and the ``--lr-schedule`` of the jobs with a time or update budget
(the same schedule for every model)."""
import argparse
from typing import Dict, List

from ..errors import ArminError

RATE_FLAGS = ("armin_lr", "lstm_lr")


def add_rate_flags(parser: argparse.ArgumentParser, defaults: str):
    """Add the three flags; ``defaults`` says where a model's default rate comes from."""
    parser.add_argument("--lr", type=float, help="Adam learning rate of every run (default: each model's, below)")
    for model in ("armin", "lstm"):
        parser.add_argument(f"--{model}-lr", type=float,
                            help=f"Adam learning rate of the {model.upper()} runs (default: --lr, else {defaults})")


def resolve_rates(parser: argparse.ArgumentParser, args: argparse.Namespace, defaults: Dict[str, float]):
    """Set ``args.armin_lr`` and ``args.lstm_lr``: the model's own flag, else ``--lr``, else
    ``defaults[name]``; a rate that is not positive is a one-line parser error."""
    for name in RATE_FLAGS:
        if getattr(args, name) is None:
            setattr(args, name, args.lr if args.lr is not None else defaults[name])
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")


def model_rate(args: argparse.Namespace, model: str) -> float:
    """The rate of the runs of ``model``: ``args.armin_lr`` for ARMIN (either case), else
    ``args.lstm_lr``."""
    return args.armin_lr if model.lower() == "armin" else args.lstm_lr


SCHEDULES = ("constant", "cosine")
SCHEDULE_WORDS = {"constant": "constant (--lr-schedule constant)",
                  "cosine": "each decayed to 0 along half a cosine over the budget (--lr-schedule cosine)"}


def add_schedule_flag(parser: argparse.ArgumentParser):
    """Add ``--lr-schedule`` (default constant)."""
    parser.add_argument("--lr-schedule", choices=SCHEDULES, default="constant",
                        help="the rate of every run: constant, or half a cosine from it down to 0 over the run's "
                        "budget (--minutes: --lr-scheduler cosine_over_time; else --max-update: fairseq's cosine); "
                        "default: constant")


def schedule_flags(schedule: str, minutes: float, max_update: int) -> List:
    """fairseq-train flags of ``schedule`` for a run with a budget of ``minutes`` (0: none)
    or else ``max_update`` updates (0: none); raises ArminError for a cosine without a budget."""
    if schedule == "constant":
        return []
    if minutes > 0:
        return ["--lr-scheduler", "cosine_over_time"]
    if max_update > 0:
        return ["--lr-scheduler", "cosine", "--lr-period-updates", max_update]
    raise ArminError("--lr-schedule cosine decays over the run's budget: give --minutes or --max-update "
                     "(or --lr-schedule constant)")
