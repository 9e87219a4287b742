"""German-English data: the LibreOffice help corpus (real Debian packages) and the IWSLT'14
preparation, run on a local copy laid out like de-en.tgz and filled with real text."""
import tarfile

import pytest
from helpers import LIBREOFFICE_DEBS, assert_one_line_error, python_module

from armin_plugin.data import iwslt14, libreoffice
from armin_plugin.data.parallel import check_parallel_data_bin
from armin_plugin.errors import ArminError

# every test here unpacks the Debian packages (dpkg-deb) or runs a data builder's CLI
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """{split: [Pair]} of the whole corpus."""
    debs = libreoffice.fetch_debs(LIBREOFFICE_DEBS)
    help_root = libreoffice.extract_help(debs, tmp_path_factory.mktemp("unpacked"))
    return libreoffice.split_pairs(libreoffice.paired_paragraphs(help_root))


def test_paragraphs_pair_by_page_and_id(corpus):
    libreoffice.check_counts(corpus)  # within the tolerance of the expected counts
    pairs = [pair for split in corpus.values() for pair in split]
    assert 30_000 < len(pairs) < 45_000
    assert len({(pair.de, pair.en) for pair in pairs}) == len(pairs)
    assert all(pair.de and pair.en and pair.de != pair.en for pair in pairs)
    known = {(pair.page, pair.id): (pair.de, pair.en) for pair in pairs}
    assert known[("text/shared/00/edit_menu.html", "par_id3148555")] == (
        "Wählen Sie Bearbeiten – Alles auswählen.", "Choose Edit - Select All."
    )


def test_no_page_is_in_two_splits(corpus):
    pages = {split: {pair.page for pair in pairs} for split, pairs in corpus.items()}
    assert not (pages["train"] & pages["valid"] or pages["train"] & pages["test"] or pages["valid"] & pages["test"])
    for split, split_pages in pages.items():
        assert all(libreoffice.split_of(page) == split for page in split_pages)


def test_counts_far_from_the_expected_ones_are_refused(corpus):
    halved = dict(corpus, train=corpus["train"][: len(corpus["train"]) // 2])
    with pytest.raises(ArminError, match=r"^LibreOffice help train split has [\d,]+ pairs, expected 30,565 within 25%"):
        libreoffice.check_counts(halved)


def iwslt_copy(folder, raw, metadata=True):
    """A folder laid out like IWSLT'14's de-en/ with the real sentences of ``raw``: the
    train split as talks (with metadata lines and tags), the test split as the five
    dev/test .xml files."""
    folder.mkdir()
    for language in ("de", "en"):
        lines = (raw / f"train.{language}").read_text(encoding="utf-8").splitlines()
        talk = ["<url>http://www.ted.com/talks/x.html</url>", "<keywords>talks</keywords>",
                "<talkid>1</talkid>", f"<title>{lines[0]}</title>"] if metadata else [lines[0]]
        (folder / f"train.tags.de-en.{language}").write_text("\n".join(talk + lines[1:]) + "\n", encoding="utf-8")
        test = (raw / f"test.{language}").read_text(encoding="utf-8").splitlines()
        for index, name in enumerate(iwslt14.TEST_SETS):
            segments = [f'<seg id="{n}"> {line} </seg>' for n, line in enumerate(test[index * 8:(index + 1) * 8], 1)]
            xml = ['<mteval>', f'<doc docid="{index}">', *segments, '</doc>', '</mteval>']
            (folder / f"{name}.de-en.{language}.xml").write_text("\n".join(xml) + "\n", encoding="utf-8")
    return folder


def test_iwslt14_local_copy_follows_the_usual_conventions(libreoffice_raw, tmp_path):
    copy = iwslt_copy(tmp_path / "de-en", libreoffice_raw)
    with tarfile.open(tmp_path / "de-en.tgz", "w:gz") as tar:
        tar.add(copy, arcname="de-en")
    raw, dest = tmp_path / "raw", tmp_path / "bin"
    result = python_module(
        "armin_plugin.data.iwslt14", "--source", tmp_path / "de-en.tgz", "--raw", raw, "--dest", dest, "--vocab-size", 600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    check_parallel_data_bin(dest, "de", "en")
    source = {language: (libreoffice_raw / f"train.{language}").read_text(encoding="utf-8").splitlines()
              for language in ("de", "en")}
    kept = [(de.lower(), en.lower()) for de, en in zip(source["de"], source["en"]) if iwslt14.keep_pair(de, en)]
    assert len(kept) < len(source["de"])  # the length and ratio rules dropped some
    written = {split: list(zip(*((raw / f"{split}.{language}").read_text(encoding="utf-8").splitlines()
                                 for language in ("de", "en")))) for split in ("train", "valid", "test")}
    assert written["valid"] == kept[22::23]
    assert written["train"] == [pair for index, pair in enumerate(kept, 1) if index % 23]
    test = [line.lower() for line in (libreoffice_raw / "test.en").read_text(encoding="utf-8").splitlines()[:40]]
    assert [en for _, en in written["test"]] == test
    assert not any("<" in de + en and ("<url>" in de + en or "<title>" in de + en) for de, en in written["train"])


def test_iwslt14_unequal_training_sides_give_one_line(libreoffice_raw, tmp_path):
    copy = iwslt_copy(tmp_path / "de-en", libreoffice_raw, metadata=False)
    english = copy / "train.tags.de-en.en"
    english.write_text("".join(english.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]), encoding="utf-8")
    result = python_module("armin_plugin.data.iwslt14", "--source", copy, "--raw", tmp_path / "raw", "--dest", tmp_path / "bin")
    assert_one_line_error(result, "train.tags.de-en.de has 300 text lines but train.tags.de-en.en has 299")
    assert not (tmp_path / "bin").exists() and not (tmp_path / "raw").exists()
