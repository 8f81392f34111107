"""Server-rendered SVG bar charts: no JavaScript, no CDN, a few hundred bytes each, readable on a phone.

Every chart is shown with its numbers in a table beside it (the table is the accessible form; the SVG
has role="img" and a title). Labels are escaped here, since the SVG goes into the page as markup.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from playbooks.insights import number

WIDTH, BAR, GAP, LABEL = 320, 18, 6, 110


def bars(title: str, items: list[tuple[str, float | None]], *, unit: str = "", target: float | None = None,
         marks: dict[str, float | None] | None = None) -> Markup:
    """Horizontal bars, one per (label, value). `marks`: a per-label target drawn as a tick (SEV targets).

    A bar's value reads as in the table beside it (counts whole, minutes to one decimal): `:g` printed a
    49 ms acknowledgement as "0.000816667 min" beside the table's 0.0.
    """
    values = [v for _, v in items if v is not None] + [m for m in (marks or {}).values() if m is not None]
    if target is not None:
        values.append(target)
    top = max(values, default=0) or 1
    span = WIDTH - LABEL - 50
    height = max(1, len(items)) * (BAR + GAP) + GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>']
    if not items:
        parts.append(f'<text x="4" y="{BAR}" class="note">none in this period</text>')
    for i, (label, value) in enumerate(items):
        y = GAP + i * (BAR + GAP)
        parts.append(f'<text x="{LABEL - 4}" y="{y + BAR - 5}" text-anchor="end" class="label">'
                     f'{escape(label[:18])}</text>')
        if value is not None:
            width = max(1.0, value / top * span)
            parts.append(f'<rect x="{LABEL}" y="{y}" width="{width:.1f}" height="{BAR}" class="bar"/>')
            parts.append(f'<text x="{LABEL + width + 4:.1f}" y="{y + BAR - 5}" class="value">'
                         f'{value if isinstance(value, int) else number(value)}{escape(unit)}</text>')
        mark = (marks or {}).get(label)
        if mark is not None:
            x = LABEL + mark / top * span
            parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y - 2}" y2="{y + BAR + 2}" class="target"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
