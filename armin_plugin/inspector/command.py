"""``armin-inspect``: what a trained ARMIN reads and writes, as pictures and a table.

    armin-inspect --path CHECKPOINT DATA --out DIR              # a segment of DATA's valid split
    armin-inspect --path CHECKPOINT --text "some text" --out DIR
    armin-inspect --path CHECKPOINT --source "Ein Satz." --target "A sentence." --out DIR

For one layer (``--layer``) of an ``armin_lm`` or ``armin`` (translation: its decoder)
checkpoint, on the CPU, in eval mode (argmax addresses; ``--sample``: Gumbel sampling), it
writes under ``--out``: address_map.png (steps labelled with their tokens x slots: address
probabilities softmax(a), the slot read circled, the slot written crossed), reads.txt (one
line per step: the slot read, the step whose state it held, the slot written),
read_arcs.png (the same as arcs over the text), read_histograms.png (read age, how long
states stay parked, share of reads per slot; for DATA, over ``--rows`` segments) and, for
translation, translation_reads.png (the decoder's reads beside the attention matrix).
"""
import argparse
import sys
from pathlib import Path
from typing import List

import torch

from ..cli.logs import setup_cli_logging
from ..errors import ArminError
from ..modules.slot_history import slot_history
from ..views.address_map import address_map_figure
from ..views.layer_reads import LayerReads
from ..views.read_arcs import read_arcs_figure
from ..views.read_histograms import read_histograms_figure
from ..views.read_statistics import read_statistics
from ..views.read_table import read_table
from ..views.translation_reads import translation_reads_figure
from .loading import Loaded, load
from .recording import record_language_model, record_translation
from .text import TextCodec


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="armin-inspect", description=__doc__.split("\n\n")[0].replace("``", ""),
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2].replace("``", ""))
    parser.add_argument("data", nargs="?", type=Path,
                        help="a data-bin: its dictionaries, and the split to read (default: the checkpoint's)")
    parser.add_argument("--path", type=Path, required=True, help="an armin_lm or armin checkpoint")
    parser.add_argument("--out", type=Path, required=True, help="where the pictures and reads.txt go")
    parser.add_argument("--text", help="language model: read this text instead of a segment of DATA")
    parser.add_argument("--source", help="translation: the source sentence (with --target)")
    parser.add_argument("--target", help="translation: the target sentence the decoder reads")
    parser.add_argument("--split", default="valid", help="the split of DATA to read (default: valid)")
    parser.add_argument("--start", type=int, default=0,
                        help="language model: first token of the segment; translation: sentence pair index")
    parser.add_argument("--length", type=int, default=150, help="language model: tokens per segment")
    parser.add_argument("--rows", type=int, default=16,
                        help="language model: consecutive segments of DATA the histograms count (the first is drawn)")
    parser.add_argument("--layer", type=int, default=0, help="the ARMIN layer (of the decoder, for translation)")
    parser.add_argument("--sample", action="store_true", help="Gumbel sampling of addresses instead of argmax")
    parser.add_argument("--seed", type=int, default=1, help="for --sample")
    args = parser.parse_args(argv)
    for name in ("length", "rows"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.start < 0:
        parser.error(f"--start must be >= 0, got {args.start}")
    if (args.source is None) != (args.target is None):
        parser.error("--source and --target go together")
    if args.text is not None and args.source is not None:
        parser.error("--text is for language models, --source/--target for translation: give one")
    return args


def language_model_segments(args, loaded: Loaded, codec: TextCodec) -> torch.Tensor:
    """(rows, T) tokens: the typed text, or ``--rows`` consecutive segments of the split."""
    if args.text is not None:
        return codec.encode(args.text).unsqueeze(0)
    from fairseq.data import data_utils

    dataset = data_utils.load_indexed_dataset(str(loaded.data / args.split), loaded.task.dictionary)
    if dataset is None:
        raise ArminError(f"{loaded.data} has no split {args.split!r}")
    stream = torch.cat([dataset[index] for index in range(len(dataset))])
    rows = min(args.rows, (stream.numel() - args.start) // args.length)
    if rows < 1:
        raise ArminError(f"the {args.split} split of {loaded.data} has {stream.numel()} tokens: no segment of "
                         f"--length {args.length} starts at --start {args.start}")
    return stream[args.start:args.start + rows * args.length].view(rows, args.length)


def sentence_pair(args, loaded: Loaded):
    """(source (S,), target (T,)) token indices, each ending with eos."""
    task = loaded.task
    if args.source is not None:
        eos = torch.tensor([task.target_dictionary.eos()])
        source = TextCodec(task.source_dictionary, loaded.data).encode(args.source, "--source")
        target = TextCodec(task.target_dictionary, loaded.data).encode(args.target, "--target")
        return torch.cat([source, eos]), torch.cat([target, eos])
    task.load_dataset(args.split)
    dataset = task.dataset(args.split)
    if args.start >= len(dataset):
        raise ArminError(f"the {args.split} split of {loaded.data} has {len(dataset)} sentence pairs: "
                         f"--start {args.start} is beyond it")
    pair = dataset[args.start]
    return pair["source"], pair["target"]


def write(figure, path: Path) -> Path:
    figure.savefig(path, dpi=110)
    return path


def inspect(args) -> List[Path]:
    """Draw and write everything; returns the files written."""
    torch.manual_seed(args.seed)
    loaded = load(args.path, args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    what = f"{args.path.name}, layer {args.layer}" + (", sampled addresses" if args.sample else ", argmax addresses")
    written = []
    written_at, earlier_labels = None, ()  # a fresh memory: no earlier writes
    if loaded.kind == "armin_lm":
        if args.source is not None:
            raise ArminError(f"{args.path} is a language model (armin_lm): give --text, not --source/--target")
        codec = TextCodec(loaded.task.dictionary, loaded.data)
        tokens = language_model_segments(args, loaded, codec)
        trace = record_language_model(loaded.model, tokens, args.layer, args.sample)
        labels = codec.labels(tokens[0])
    else:
        if args.text is not None:
            raise ArminError(f"{args.path} is a translation model (armin): give --source and --target, not --text")
        source, target = sentence_pair(args, loaded)
        target_input = torch.cat([target.new_tensor([loaded.task.target_dictionary.eos()]), target[:-1]])
        recorded = record_translation(loaded.model, source, target_input, args.layer, args.sample)
        trace = recorded.trace
        labels = TextCodec(loaded.task.target_dictionary, loaded.data).labels(target_input)
        source_labels = TextCodec(loaded.task.source_dictionary, loaded.data).labels(source)
        if recorded.source_trace is not None:  # the decoder starts with the memory the encoder left
            written_at, earlier_labels = slot_history(recorded.source_trace).written_at, source_labels
    history = slot_history(trace, written_at)
    reads = LayerReads.of_row(trace, history, 0, labels, earlier_labels)
    (args.out / "reads.txt").write_text(read_table(reads), encoding="utf-8")
    written.append(args.out / "reads.txt")
    written.append(write(address_map_figure(reads, f"address map: {what}"), args.out / "address_map.png"))
    written.append(write(read_arcs_figure(reads, f"what each step read back: {what}"), args.out / "read_arcs.png"))
    rows = trace.read.size(1)
    written.append(write(read_histograms_figure(read_statistics(trace, history), f"{what}; {rows} segment(s)"),
                         args.out / "read_histograms.png"))
    if loaded.kind == "armin" and recorded.attention is not None:
        figure = translation_reads_figure(reads, recorded.attention, source_labels, f"decoder reads and attention: {what}")
        written.append(write(figure, args.out / "translation_reads.png"))
    return written


def main(argv=None):
    setup_cli_logging()
    args = parse_args(argv)
    try:
        written = inspect(args)
    except ArminError as error:
        sys.exit(f"error: {error}")
    print("\n".join(str(path) for path in written))
