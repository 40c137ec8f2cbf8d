"""The print checks of pdf_layout on planted pages: a half-empty page, a figure parted from
its caption, a table row split across pages and a word running off the page are found, a full
page, a section's last page and a long word the page breaks are not."""

from __future__ import annotations

from pathlib import Path

import pytest
from pdf_layout import captions_apart, overflowing, read_pages, sparse_pages, split_rows

from pl_eval import io

PNG = (  # a 1x1 PNG
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
STYLE = "<style>@page { size: A4; margin: 16mm 14mm 18mm; } p { margin: 0; }</style>"


def _pdf(tmp_path: Path, body: str, name: str = "page.pdf") -> Path:
    io.write_pdf(f"<!DOCTYPE html><html><head>{STYLE}</head><body>{body}</body></html>",
                 tmp_path / name)  # fmt: skip
    return tmp_path / name


def _lines(n: int, word: str = "line") -> str:
    return "".join(f"<p>{word} {i}</p>" for i in range(n))


def test_a_page_broken_early_is_sparse_unless_it_ends_a_section(tmp_path):
    # ~55 lines fill an A4 content area at 12pt; 15 leave it about three quarters empty
    early = _lines(15) + '<h1 style="break-before: page">Next</h1>' + _lines(60)
    pages = read_pages(_pdf(tmp_path, early))
    assert pages[0].empty_share == pytest.approx(0.73, abs=0.08)
    assert sparse_pages(pages, ()) == [(1, pytest.approx(pages[0].empty_share, abs=0.01))]
    assert sparse_pages(pages, ("Next",)) == []  # the last page of a section may be short
    full = read_pages(_pdf(tmp_path, _lines(52), "full.pdf"))
    assert full[0].empty_share < 0.1 and sparse_pages(full, ()) == []


def test_a_caption_pushed_off_its_figure_page_is_found(tmp_path):
    figure = f'<figure><img src="{PNG}" style="width: 60mm; height: 200mm"><figcaption>'
    kept = figure + "Caption kept</figcaption></figure>"
    # an image 260 mm tall fills the 263 mm content area: a caption not kept with it moves on
    parted = (
        f'<img src="{PNG}" style="display: block; width: 60mm; height: 260mm">'
        "<p>Caption parted from its image</p>"
    )
    pages = read_pages(_pdf(tmp_path, kept))
    assert len(pages[0].images) == 1 and captions_apart(pages, ["Caption kept"]) == []
    pages = read_pages(_pdf(tmp_path, parted, "parted.pdf"))
    assert captions_apart(pages, ["Caption parted from its image"]) == [
        "'Caption parted from its image': image on page 1, caption on [2]"
    ]


def test_a_row_split_over_two_pages_is_found_and_repeated_headers_are_not():
    tall = "<br>".join(f"cell line {i}" for i in range(40))
    table = (
        f"<table><thead><tr><th>Head</th></tr></thead><tbody>"
        f"<tr><td>{tall}</td></tr><tr><td>short</td></tr><tr><td>{tall}</td></tr>"
        "</tbody></table>"
    )
    html = f"<!DOCTYPE html><html><head>{STYLE}</head><body>RULES{table}</body></html>"
    split = split_rows(html.replace("RULES", ""))
    assert len(split) == 1 and split[0].startswith("'cell line 0 cell line 1")
    kept = html.replace("RULES", "<style>tr { break-inside: avoid; }</style>")
    assert split_rows(kept) == []


def test_a_word_too_long_for_the_line_is_found_unless_it_is_broken():
    word = "Extraordinarily" * 8  # about 2.5 lines of A4 at 12pt, and no place to break
    page = f"<!DOCTYPE html><html><head>{STYLE}</head><body><p>A {word} B</p></body></html>"
    assert overflowing(page) == [f"page 1: {word[:40]!r}"]
    broken = page.replace("<p>", '<p style="overflow-wrap: break-word">')
    assert overflowing(broken) == []
    assert overflowing(page.replace(word, "short words " * 40)) == []
