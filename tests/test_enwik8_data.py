"""Byte-level enwik8 preparation: hand-made bytes, and a slice of the real Wikipedia XML sample
that the gensim wheel carries (fetched with pip, as the recipe does offline)."""
import bz2
import zipfile

import pytest
from helpers import assert_one_line_error, python_module
from fairseq.data import Dictionary, data_utils

from armin_plugin.data import enwik8
from armin_plugin.errors import ArminError

XML = (
    b'<page>\n    <title>Anarchism</title>\n    <text xml:space="preserve">'
    b"'''Anarchism''' is a political philosophy \xc3\xa9</text>\n</page>\n"
)


def test_each_byte_is_one_token_and_newlines_end_lines():
    assert enwik8.byte_lines(b"ab\n\nc\xff") == "97 98\n\n99 255\n"
    assert enwik8.byte_lines(b"x\n") == "120\n"


def test_split_is_standard_for_enwik8_and_proportional_otherwise():
    train, valid, test = enwik8.split_bytes(bytes(200))
    assert (len(train), len(valid), len(test)) == (180, 10, 10)
    with pytest.raises(ArminError, match="too small to split"):
        enwik8.split_bytes(b"abc")


def test_sources_zip_bz2_and_raw(tmp_path):
    (tmp_path / "raw").write_bytes(XML)
    (tmp_path / "sample.bz2").write_bytes(bz2.compress(XML))
    with zipfile.ZipFile(tmp_path / "enwik8.zip", "w") as archive:
        archive.writestr("enwik8", XML)
    for name in ("raw", "sample.bz2", "enwik8.zip"):
        assert enwik8.read_source(tmp_path / name) == XML


@pytest.mark.slow
def test_cli_refuses_a_missing_source(tmp_path):
    result = python_module("armin_plugin.data.enwik8", "--source", tmp_path / "none.zip",
                           "--dest", tmp_path / "bin")
    assert_one_line_error(result, f"source file {tmp_path / 'none.zip'} does not exist")
    assert not (tmp_path / "bin").exists()


@pytest.mark.slow
def test_prepare_binarizes_every_byte_of_the_gensim_sample(tmp_path):
    """The recipe's offline source is real Wikipedia XML; a slice of it becomes one token per
    byte, newlines ending lines, split as enwik8.split_bytes says."""
    source = enwik8.gensim_sample(tmp_path)
    data = enwik8.read_source(source)
    assert len(data) > 6_000_000 and data.startswith(b"<mediawiki")
    (tmp_path / "slice.xml").write_bytes(data[:60_000])
    dest = enwik8.prepare(tmp_path / "bin", source=tmp_path / "slice.xml")
    dictionary = Dictionary.load(str(dest / "dict.txt"))
    train_bytes, valid_bytes, _ = enwik8.split_bytes(data[:60_000])
    train = data_utils.load_indexed_dataset(str(dest / "train"), dictionary)
    # one token per byte, a newline as the end of its line; a split that stops inside a line
    # gets one end-of-line token more
    assert int(train.sizes.sum()) == len(train_bytes) + (not train_bytes.endswith(b"\n"))
    first_line = train_bytes.split(b"\n")[0]
    assert dictionary.string(train[0][:-1]) == " ".join(map(str, first_line))
    valid = data_utils.load_indexed_dataset(str(dest / "valid"), dictionary)
    assert len(valid_bytes) == 3_000  # 5% of the slice
    assert int(valid.sizes.sum()) == 3_000 + (not valid_bytes.endswith(b"\n"))
