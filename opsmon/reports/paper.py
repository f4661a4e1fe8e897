"""What the PDF documents share: the page (A4, its footer with the page number) and text made safe for the PDF core fonts.

The situation report (`sitrep_pdf.py`) and the after-action report (`afteraction_pdf.py`) draw on it, so the two
papers number their pages and replace what Latin-1 cannot set the same way.
"""

from __future__ import annotations

from fpdf import FPDF


def latin(text: str) -> str:
    """The text in Latin-1, the core fonts' alphabet: anything else replaced rather than breaking the document."""
    return text.replace("…", "...").replace("—", "-").replace("–", "-").encode("latin-1", "replace").decode("latin-1")


class Paper(FPDF):
    """An A4 page whose footer says the document's name and the page number
    (`page_words`: e.g. "Halaman {page} dari {pages}"; {pages} is filled in at the end)."""

    footer_text = ""
    page_words = "{page}"

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(110)
        page = self.page_words.format(page=self.page_no(), pages="{nb}")
        self.cell(0, 5, latin(f"{self.footer_text} · {page}"), align="C")
