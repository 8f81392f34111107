"""The insights page's tables and charts as a manager reads them: headers in words, every empty cell saying why.

`playbooks.insights.tables` keeps the column names scripts read (`fireline report --format csv`:
`tta_median_min`); a person reading the page gets "Time to acknowledge" and "90th percentile". The response
table shows the median and the p90 side by side against the target, because a median alone hides the tail:
9.9 min under a 15-min target read as fine while one incident in ten waited 33.7 min.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from bot.adapters.web import charts
from playbooks import insights as pure

RESPONSE = "Response by severity and month"


@dataclass(frozen=True)
class Cell:
    text: str
    css: str = ""  # "empty": a reason, not a figure; "over": a time past the SEV target


@dataclass(frozen=True)
class Table:
    title: str
    caption: str  # what the chart shows, in words (HTML, beside the SVG)
    groups: list[tuple[str, int]]  # a first header row: (words, columns spanned); empty for one row
    header: list[str]
    rows: list[list[Cell]]
    empty: str  # why there are no rows
    chart: Markup
    legend: bool = False  # the response chart's median / p90 / target legend
    wide: bool = False  # the table takes the page's width, the chart above it
    note: str = ""


def _minutes(value: float | None, why: str, target: float | None = None) -> Cell:
    if value is None:
        return Cell(why, "empty")
    return Cell(f"{pure.number(value)} min", "over" if target is not None and value > target else "")


def _target(row: pure.Row) -> Cell:
    if row.target_minutes is None:
        return Cell("next business day (no timed target)", "empty")
    return Cell(f"{pure.number(row.target_minutes, 0)} min")


def _within(row: pure.Row) -> Cell:
    if row.target_minutes is None:
        return Cell("no timed target", "empty")
    if not row.judged:
        return Cell("none judged yet (within target, unacknowledged)", "empty")
    return Cell(f"{row.share_within * 100:.0f}% ({row.within} of {row.judged})",
                "over" if row.within < row.judged else "")


def response_rows(found: pure.Figures) -> list[list[Cell]]:
    return [[Cell(row.month), Cell(f"SEV{row.severity}"), Cell(str(row.incidents)), _target(row),
             _minutes(row.tta_median, "none acknowledged yet", row.target_minutes),
             _minutes(row.tta_p90, "none acknowledged yet", row.target_minutes), _within(row),
             _minutes(row.ttm_median, "none mitigated"), _minutes(row.ttr_median, "none resolved yet")]
            for row in found.rows]


def _count(rows) -> list[list[Cell]]:
    return [[Cell(label), Cell(str(n))] for label, n in rows]


def tables(found: pure.Figures) -> list[Table]:
    latest: dict[int, pure.Row] = {}
    for row in found.rows:  # the period's last month per severity, for the headline chart
        latest[row.severity] = row
    items, marks = [], {}
    for level in sorted(latest):
        row = latest[level]
        items += [(f"SEV{level} median", row.tta_median, ""), (f"SEV{level} p90", row.tta_p90, "p90")]
        marks.update({f"SEV{level} median": row.target_minutes, f"SEV{level} p90": row.target_minutes})
    share = found.postmortems_share
    pm_cells = [Cell(str(found.postmortems_owed)), Cell(str(found.postmortems_on_time)),
                Cell(str(found.postmortems_late)), Cell(str(found.postmortems_overdue)),
                Cell(f"{share * 100:.0f}%") if share is not None else Cell("none due yet", "empty")]
    dry = found.dry_run_pages
    dry_note = (f"{dry} dry-run page{'' if dry == 1 else 's'} (PagerDuty not configured, nobody was woken) "
                "not counted." if dry else "")
    return [
        Table(RESPONSE, "Minutes to acknowledge in each severity's latest month: the median and the 90th "
              "percentile, against the SEV target.", [("", 3), ("Time to acknowledge", 4), ("Median time to", 2)],
              ["Month", "Severity", "Incidents", "Target", "Median", "90th percentile", "Within target", "Mitigate",
               "Resolve"], response_rows(found), "No incidents were declared in this period.",
              charts.bars("Minutes to acknowledge: median and 90th percentile, latest month, with the SEV target",
                          items, unit=" min", marks=marks, missing="none acknowledged"), legend=True, wide=True,
              note="A time past its SEV target is in bold red. Within target counts the incidents whose outcome "
                   "is known: acknowledged, or still unacknowledged after the target passed."),
        Table("Incidents per week", "Incidents declared per week (the last 12 weeks of the period).", [],
              ["Week", "Incidents"], _count(found.incidents_per_week),
              "No incidents were declared in this period.",
              charts.bars("Incidents per week", [(w, n) for w, n in found.incidents_per_week[-12:]])),
        Table("Pages per week", "Pages sent through PagerDuty per week (the last 12 weeks of the period).", [],
              ["Week", "Pages"], _count(found.pages_per_week),
              "Nobody was paged in this period." + (" " + dry_note if dry_note else ""),
              charts.bars("Pages per week", [(w, n) for w, n in found.pages_per_week[-12:]]), note=dry_note),
        Table("Pages per person", "Pages per person PagerDuty assigned (the 12 most paged).", [],
              ["Person", "Pages"], _count(found.pages_per_person),
              "Nobody was paged in this period." + (" " + dry_note if dry_note else ""),
              charts.bars("Pages per person", found.pages_per_person[:12])),
        Table("Postmortems within 48 h", "Postmortems owed in the period: done on time, done late, or overdue.", [],
              ["Owed", "On time", "Late", "Overdue", "Share on time"], [pm_cells] if found.postmortems_owed else [],
              "No postmortems were owed in this period (SEV1 and SEV2 incidents owe one).",
              charts.bars("Postmortems", [("on time", found.postmortems_on_time), ("late", found.postmortems_late),
                                          ("overdue", found.postmortems_overdue)])),
        Table("Playbooks most run", "Playbook runs that finished, most run first (the top 10).", [],
              ["Playbook", "Runs", "Failed", "Failure rate"],
              [[Cell(p.playbook), Cell(str(p.runs)), Cell(str(p.failed)),
                Cell(f"{p.failure_rate * 100:.0f}%") if p.failure_rate is not None else Cell("—", "empty")]
               for p in found.playbooks],
              "No playbook ran in this period (a proposal nobody confirmed is not a run).",
              charts.bars("Playbook runs", [(p.playbook, p.runs) for p in found.playbooks[:10]])),
    ]
