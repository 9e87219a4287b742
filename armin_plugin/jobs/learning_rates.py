"""Each model of a comparison job at its own Adam learning rate: the ``--lr``, ``--armin-lr``
and ``--lstm-lr`` flags every job shares (a fair comparison trains each model at its best
rate, docs/study.md)."""
import argparse
from typing import Dict

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
