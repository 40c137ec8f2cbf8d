"""What a reader sees of a report's pages, read back from its PDF (pypdf) and its layout
(WeasyPrint): how full each page is, where figures and their captions landed, and which table
rows WeasyPrint split across pages. Used by the print tests of the demo report and checked on
planted pages in test_pdf_layout.py."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

#: The report's @page margins (report.css): 16 mm top, 18 mm bottom; the footer sits below.
MM = 72 / 25.4
MARGIN_TOP, MARGIN_BOTTOM = 16 * MM, 18 * MM


@dataclass(frozen=True)
class Page:
    """One PDF page: its text lines (baseline y, text) top to bottom and its images' (bottom,
    top) in PDF points (y up), without the footer in the bottom margin."""

    number: int  # 1-based
    height: float
    lines: tuple[tuple[float, str], ...]
    images: tuple[tuple[float, float], ...]

    @property
    def text(self) -> str:
        return normalise(" ".join(text for _, text in self.lines))

    @property
    def first_line(self) -> str:
        return self.lines[0][1] if self.lines else ""

    @property
    def empty_share(self) -> float:
        """The share of the page's content area below its lowest text or image."""
        top, bottom = self.height - MARGIN_TOP, MARGIN_BOTTOM
        marks = [y for y, _ in self.lines] + [low for low, _ in self.images]
        lowest = min(marks, default=top)
        return max(0.0, (lowest - bottom) / (top - bottom))


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def read_pages(pdf: Path) -> list[Page]:
    """Every page's text lines and image positions (each image is drawn as the unit square
    under the current transformation matrix at its ``Do`` operator)."""
    from pypdf import PdfReader

    pages = []
    for number, page in enumerate(PdfReader(pdf).pages, start=1):
        lines: list[tuple[float, str]] = []
        images: list[tuple[float, float]] = []

        def before(op, args, cm, tm, images=images):
            if op == b"Do":
                low, high = sorted((cm[5], cm[5] + cm[3]))
                images.append((low, high))

        def text(value, cm, tm, font, size, lines=lines):
            if value.strip():
                y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
                if y > MARGIN_BOTTOM:
                    lines.append((y, value.strip()))

        page.extract_text(visitor_operand_before=before, visitor_text=text)
        ordered = tuple(sorted(lines, key=lambda line: -line[0]))
        pages.append(Page(number, float(page.mediabox.height), ordered, tuple(images)))
    return pages


def sparse_pages(pages: list[Page], section_starts: tuple[str, ...], limit: float = 1 / 3):
    """Pages more than ``limit`` empty that are not the last of a section: the last page, or
    one followed by a page whose first line starts a section (a forced page break)."""
    out = []
    for page, after in zip(pages, [*pages[1:], None], strict=True):
        last_of_section = after is None or after.first_line.startswith(section_starts)
        if page.empty_share > limit and not last_of_section:
            out.append((page.number, round(page.empty_share, 2)))
    return out


def captions_apart(pages: list[Page], captions: list[str]) -> list[str]:
    """Captions (in figure order, as in the HTML) not on the page of their figure's image
    (images in page order, one per figure)."""
    image_pages = [page.number for page in pages for _ in page.images]
    out = []
    for caption, image_page in zip(captions, image_pages, strict=True):
        start = normalise(caption)[:60]
        on = [page.number for page in pages if start in page.text]
        if image_page not in on:
            out.append(f"{start!r}: image on page {image_page}, caption on {on}")
    return out


def split_rows(html: str) -> list[str]:
    """Body rows of tables that WeasyPrint lays out over more than one page (header rows
    repeat on every page by design). Reads WeasyPrint's layout boxes (Page._page_box)."""
    document = _layout(html)
    pages_of: dict[int, set[int]] = {}
    text_of: dict[int, str] = {}

    def walk(box, number, in_header=False):
        in_header = in_header or getattr(box, "element_tag", "") == "thead"
        if getattr(box, "element_tag", "") == "tr" and not in_header:
            key = id(box.element)
            pages_of.setdefault(key, set()).add(number)
            text_of[key] = normalise(" ".join(box.element.itertext()))[:80]
        for child in getattr(box, "children", []):
            walk(child, number, in_header)

    for number, page in enumerate(document.pages, start=1):
        walk(page._page_box, number)
    return [f"{text_of[k]!r} on pages {sorted(v)}" for k, v in pages_of.items() if len(v) > 1]


def overflowing(html: str) -> list[str]:
    """Text that WeasyPrint lays out past the right edge of its page's content area (a word
    too long for the line that was not broken), as page number and the text's start."""
    from weasyprint.formatting_structure import boxes

    document = _layout(html)
    out = []

    def walk(box, number, right):
        if isinstance(box, boxes.TextBox) and box.position_x + box.width > right + 0.5:
            out.append(f"page {number}: {box.text[:40]!r}")
        for child in getattr(box, "children", []):
            walk(child, number, right)

    for number, page in enumerate(document.pages, start=1):
        walk(page._page_box, number, page._page_box.content_box_x() + page._page_box.width)
    return out


@functools.lru_cache(maxsize=2)
def _layout(html: str):
    """WeasyPrint's layout of ``html``, made once for the checks that read it."""
    import weasyprint

    return weasyprint.HTML(string=html).render()
