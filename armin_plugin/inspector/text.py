"""Typed text as the tokens of a checkpoint's dictionary, and tokens as labels."""
from pathlib import Path
from typing import List

import torch
from torch import Tensor

from ..data.parallel import SPM_MODEL
from ..data.ptb import SPACE
from ..errors import ArminError


class TextCodec:
    """Character-level when every symbol of ``dictionary`` is one character (a space is
    ``_`` when the dictionary spells it so, as PTB's does); otherwise words, or
    sentencepiece pieces when the data-bin holds the sentencepiece model."""

    def __init__(self, dictionary, data: Path):
        self.dictionary = dictionary
        # fairseq pads its dictionaries to a multiple of 8 with "madeupword0000", ...
        symbols = [s for s in dictionary.symbols[dictionary.nspecial:] if not s.startswith("madeupword")]
        self.characters = bool(symbols) and all(len(symbol) == 1 for symbol in symbols)
        self.space = SPACE if self.characters and SPACE in symbols and " " not in symbols else " "
        self.pieces = None
        if not self.characters and (data / SPM_MODEL).is_file():
            import sentencepiece

            self.pieces = sentencepiece.SentencePieceProcessor(model_file=str(data / SPM_MODEL))

    def encode(self, text: str, what: str = "--text") -> Tensor:
        """(T,) token indices of ``text`` (unknown symbols become <unk>)."""
        if not text.strip():
            raise ArminError(f"{what} is empty: give the text to read")
        if self.characters:
            symbols = [self.space if c == " " else c for c in text.strip()]
        elif self.pieces is not None:
            symbols = self.pieces.encode(text.strip(), out_type=str)
        else:
            symbols = text.split()
        return torch.tensor([self.dictionary.index(symbol) for symbol in symbols], dtype=torch.long)

    def labels(self, tokens: Tensor) -> List[str]:
        """The symbol of every token (spaces as spaces)."""
        return [" " if self.characters and s == self.space else s
                for s in (self.dictionary[index] for index in tokens.tolist())]
