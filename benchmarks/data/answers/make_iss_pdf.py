"""Writes docs/international-space-station.pdf (three pages) with reportlab.

The PDF is committed; this script shows how it was made: python make_iss_pdf.py
"""

from __future__ import annotations

from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

PAGES = [
    (
        "The International Space Station",
        [
            "The International Space Station (ISS) is a modular space station in low Earth "
            "orbit. It is a joint project of five space agencies: NASA of the United States, "
            "Roscosmos of Russia, JAXA of Japan, ESA of Europe and CSA of Canada.",
            "The first module, the Russian-built Zarya, was launched on 20 November 1998. "
            "Assembly continued for more than a decade, with modules carried up by Russian "
            "rockets and by the Space Shuttle.",
        ],
    ),
    (
        "Orbit",
        [
            "The station orbits at an altitude of about 400 kilometres, travelling at about "
            "28,000 kilometres per hour. It completes one orbit in about 92 minutes, some 15.5 "
            "orbits a day, so its crew sees about 16 sunrises and sunsets every day.",
            "The thin atmosphere at that height slowly drags the station down, so its orbit is "
            "raised from time to time by engine burns.",
        ],
    ),
    (
        "Life aboard",
        [
            "The ISS has been continuously occupied since 2 November 2000, when the crew of "
            "Expedition 1 arrived. Crews usually stay for about six months.",
            "The station has a mass of about 420,000 kilograms and measures about 109 metres "
            "end to end, roughly the length of an American football field.",
            "The partners plan to operate the station until 2030. It will then be steered into "
            "the atmosphere over a remote area of the Pacific Ocean.",
        ],
    ),
]


def main() -> None:
    out = Path(__file__).parent / "docs" / "international-space-station.pdf"
    styles = getSampleStyleSheet()
    story: list = []
    for i, (heading, paragraphs) in enumerate(PAGES):
        if i:
            story.append(PageBreak())
        story.append(Paragraph(heading, styles["Heading1"]))
        for text in paragraphs:
            story.append(Paragraph(text, styles["BodyText"]))
            story.append(Spacer(1, 8))
    SimpleDocTemplate(
        str(out), pagesize=A4, title="The International Space Station", invariant=1
    ).build(story)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
