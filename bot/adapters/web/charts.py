"""Server-rendered SVG bar charts: no JavaScript, no CDN, a few hundred bytes each, readable on a phone.

Every chart is shown with its numbers in a table beside it (the table is the accessible form; the SVG
has role="img" and a title); its caption and legend are HTML around it (`figure`), since a `<title>` is
only a tooltip. Labels are escaped here, since the SVG goes into the page as markup.

A value label sits after its bar unless that would cross the bar's target tick: then it moves past the
tick (the chart keeps RIGHT units free for it). Text widths are estimated at CHAR units a character, wider
than system-ui's 11 px digits measure in Chromium (about 6.1), so the estimate errs towards a gap;
tests/adapters/web/test_insights_browser.py compares the drawn boxes.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from playbooks.insights import number

WIDTH, BAR, GAP, LABEL, RIGHT, CHAR = 360, 18, 6, 110, 80, 7.0
TICK_CLEAR = 4  # units between a tick and a label on either side


def _label_x(end: float, text: str, tick: float | None) -> float:
    """Where a value label starts: after the bar's end, or past the tick when the two would meet."""
    x = end + 4
    if tick is not None and x - TICK_CLEAR < tick < x + len(text) * CHAR + TICK_CLEAR:
        x = tick + TICK_CLEAR + 2
    return x


def bars(title: str, items: list[tuple], *, unit: str = "", target: float | None = None,
         marks: dict[str, float | None] | None = None, missing: str = "") -> Markup:
    """Horizontal bars, one per (label, value[, kind]). `marks`: a per-label target drawn as a tick (SEV targets);
    `kind` adds a class to the bar (the legend's "p90" is drawn lighter than the median). `missing`: what a bar
    without a value says instead (an empty row reads as a zero otherwise).

    A bar's value reads as in the table beside it (counts whole, minutes to one decimal): `:g` printed a
    49 ms acknowledgement as "0.000816667 min" beside the table's 0.0.
    """
    rows = [(item[0], item[1], item[2] if len(item) > 2 else "") for item in items]
    values = [v for _, v, _ in rows if v is not None] + [m for m in (marks or {}).values() if m is not None]
    if target is not None:
        values.append(target)
    top = max(values, default=0) or 1
    span = WIDTH - LABEL - RIGHT
    height = max(1, len(rows)) * (BAR + GAP) + GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
             f'aria-label="{escape(title)}" class="chart"><title>{escape(title)}</title>']
    if not rows:
        parts.append(f'<text x="4" y="{BAR}" class="note">none in this period</text>')
    for i, (label, value, kind) in enumerate(rows):
        y = GAP + i * (BAR + GAP)
        parts.append(f'<text x="{LABEL - 4}" y="{y + BAR - 5}" text-anchor="end" class="label">'
                     f'{escape(label[:18])}</text>')
        mark = (marks or {}).get(label)
        tick = None if mark is None else LABEL + mark / top * span
        if value is not None:
            width = max(1.0, value / top * span)
            text = f"{value if isinstance(value, int) else number(value)}{unit}"
            parts.append(f'<rect x="{LABEL}" y="{y}" width="{width:.1f}" height="{BAR}" '
                         f'class="bar{" " + escape(kind) if kind else ""}"/>')
            parts.append(f'<text x="{_label_x(LABEL + width, text, tick):.1f}" y="{y + BAR - 5}" class="value">'
                         f'{escape(text)}</text>')
        elif missing:
            parts.append(f'<text x="{_label_x(LABEL, missing, tick):.1f}" y="{y + BAR - 5}" class="value none">'
                         f'{escape(missing)}</text>')
        if tick is not None:
            parts.append(f'<line x1="{tick:.1f}" x2="{tick:.1f}" y1="{y - 2}" y2="{y + BAR + 2}" class="target"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
