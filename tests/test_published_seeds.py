"""``published.csv`` against the source documents (``../shared/seeds``): every seed row is printed there, at the
named table, with its std; the shipped file is what ``python -m harness.references.seeds`` builds from them.

The table locator here is independent of the parser's: plain text windows around each table's caption or slide
marker, and the value and std searched as printed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

from harness.references import PUBLISHED
from harness.references.seeds import SEEDS, build

SEEDS_DIR = Path(os.environ.get("HARNESS_SHARED_SEEDS", Path(__file__).resolve().parents[2] / "shared" / "seeds"))


@pytest.fixture(scope="module")
def seeds() -> Path:
    if not all((SEEDS_DIR / f).is_file() for f in SEEDS.values()):
        pytest.skip(f"the source documents are not at {SEEDS_DIR} (../shared/seeds; set HARNESS_SHARED_SEEDS)")
    return SEEDS_DIR


def _window(text: str, table: str) -> str:
    """The text of ``table`` in one document, found by its printed caption or slide marker."""
    slide = re.fullmatch(r"slide (\d+)", table)
    if slide:
        k = int(slide.group(1))
        return text[text.index(f"slide-{k}\n"):text.index(f"slide-{k + 1}\n")]
    if table == "WRN-28-10 table":
        return text[text.index("# params"):text.index("OOD")]
    if f"{table}:" in text:  # BaLeNAS: caption above the table, the next caption or section below
        start = text.index(f"{table}:")
        return text[start:start + 4000]
    end = text.index(f"{table}.")  # VIM-NAS: caption below the table
    return text[max(0, end - 2500):end]


def test_every_seed_row_is_printed_at_its_table(seeds):
    pub = pd.read_csv(PUBLISHED, dtype=str, keep_default_na=False)
    texts = {f: (seeds / f).read_text(encoding="utf-8") for f in SEEDS.values()}
    checked = 0
    for r in pub.itertuples():
        f = next((f for f in texts if f in r.source), None)
        if f is None:
            continue
        win = _window(texts[f], r.table)
        if r.std:
            # BaLeNAS prints "93.45±plus-or-minus\pm0.16", the slides "4.66 ± 0.71", VIM-NAS "3.00 ± 0.14" and
            # its own row in LaTeX, "\textbf{2.45} \pm \textbf{0.04}"
            sep = r"\}?\s*(±(plus-or-minus\\pm)?|\\pm)\s*(\\textbf\{)?"
            pat = re.escape(r.value) + sep + re.escape(r.std) + r"(?!\d)"
        else:
            pat = r"(?<![\d.])" + re.escape(r.value) + r"(?![\d])"
        assert re.search(pat, win), f"{r.method} {r.dataset} {r.split}: {r.value} ± {r.std} not in {f} {r.table}"
        if r.n == "4" and "BaLeNAS" in r.source:
            assert "4 independent search experiments" in texts[f]
        if r.statistic == "min":
            assert f"lowest error rate (%) of {r.n} found architectures" in win + texts[f]
        checked += 1
    assert checked >= 420  # every table number of the five documents that a recipe compares against


def test_the_shipped_file_is_the_parser_output(seeds, tmp_path):
    built = build(seeds)
    shipped = pd.read_csv(PUBLISHED, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(built.reset_index(drop=True), shipped, check_dtype=False)
    # the counts per table, as printed in the documents
    per = built.groupby("table").size()
    assert per["Table 4"] == 60 + 96 and per["Table 2"] == 18 and per["Table 5"] == 42 and per["slide 25"] == 72
    assert per["slide 21"] == 24 and per["WRN-28-10 table"] == 22
    assert len(built[(built.table == "Table 1") & built.source.str.contains("BaLeNAS")]) == 78


def test_disagreeing_sources_are_marked_not_dropped(seeds):
    built = build(seeds)
    enas = built[(built.method == "ENAS") & (built.dataset == "cifar10") & (built.split == "test")]
    assert set(enas.value) == {"53.89", "54.30"} and (enas.disputed != "").all()
    d2 = built[(built.method == "DARTS (2nd)") & (built.dataset == "cifar10") & (built.split == "test")]
    assert set(d2.table) == {"Table 1", "Table 5"} and (d2.disputed != "").all()
    # the same number in two tables (BaLeNAS-TF in Tables 1, 2, 4) is not a dispute
    assert (built[built.method.str.startswith("BaLeNAS-TF")].disputed == "").all()


def test_a_malformed_table_is_an_error_not_a_short_file(seeds, tmp_path):
    for f in SEEDS.values():
        (tmp_path / f).write_text((seeds / f).read_text(encoding="utf-8"), encoding="utf-8")
    f = tmp_path / SEEDS["vimnas"]
    f.write_text(f.read_text(encoding="utf-8").replace("\tS3\t3.34\t2.93", "\tS3\t2.93"), encoding="utf-8")
    with pytest.raises(ValueError, match="VIM-NAS Table 4 row"):
        build(tmp_path)
