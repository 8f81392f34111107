"""playbooks.capacity: the guide's "When to Scale What" on Fly's figures, and right-sizing priced from the table."""

from __future__ import annotations

import pytest

from playbooks.capacity import PricesError, Seen, Traffic, Usage, advice_lines, decide, load_prices, right_size

PRICES = load_prices()


def usage(cpu=0.3, memory=0.5, p95=0.2, before=0.2, machines=3) -> Usage:
    ids = [f"m{i}" for i in range(machines)]
    return Usage("app", {i: cpu for i in ids}, {i: memory for i in ids}, Traffic(p95, 0.001), Traffic(before, 0.001))


def test_the_table_rows_on_figures_and_their_thresholds():
    assert decide(usage()) is None
    cpu = decide(usage(cpu=0.8), machines=3)
    assert cpu.key == "cpu" and cpu.command == "/scale count 4" and "CPU 80% on average over 3 machines" in cpu.figures
    assert decide(usage(cpu=0.79)) is None
    assert decide(usage(cpu=0.95), machines=19, max_machines=20).command == "/scale count 20"
    memory = decide(usage(memory=0.85))
    assert memory.key == "memory" and "memory 85% on m0, at or over 85%" in memory.figures
    slow = decide(usage(p95=1.5, cpu=0.2))
    assert slow.key == "slow-queries" and slow.command == "" and "p95 1500 ms (an hour ago 200 ms)" in slow.figures
    assert decide(usage(p95=1.5, cpu=0.5)) is None  # slow and busy: not the database's sign
    assert decide(usage(cpu=0.9, memory=0.9)).key == "cpu"  # the table's order


def test_nothing_read_decides_nothing_and_says_why():
    broken = Usage("app", error="Fly metrics not configured: set FLY_METRICS_TOKEN")
    assert decide(broken) is None and broken.lines() == ["*Fly metrics*: Fly metrics not configured: set "
                                                         "FLY_METRICS_TOKEN"]
    assert "no CPU or memory series" in Usage("app").lines()[0]


def test_the_default_prices_give_the_guides_figure_back():
    assert PRICES.as_of == "2024-12"
    four = 4 * PRICES.monthly("shared", 1, 1024)
    assert round(four) == 23  # "Fly.io Machines (4x shared-cpu-1x) $23, ~$6/machine"


def seen(cpu, memory, kind="shared", cpus=2, mb=4096, days=7.0) -> Seen:
    return Seen("5d8e0000000000", kind, cpus, mb, cpu, memory, days)


def test_right_size_picks_the_cheapest_size_that_holds_the_highs_with_headroom():
    [a] = right_size([seen(0.06, 0.24)], PRICES)
    assert (a.size, a.cpus, a.memory_mb) == ("shared-cpu-1x", 1, 1792)  # 983 MB used / 0.6, up to 256 MB steps
    assert a.now_month == pytest.approx(21.39) and a.new_month == pytest.approx(9.44)
    [perf] = right_size([seen(0.1, 0.2, kind="performance", cpus=4, mb=8192)], PRICES)
    assert perf.size == "performance-1x" and perf.memory_mb == 2816  # stays performance; 2 GB minimum honoured


@pytest.mark.parametrize(("machine", "why"), [
    (seen(0.35, 0.1), "not under CPU 30% and memory 50%, so it is used"),
    (seen(0.1, 0.55), "not under CPU 30% and memory 50%, so it is used"),
    (seen(0.05, 0.05, days=3.0), "only 3.0 days of metrics, 7 needed"),
    (seen(None, 0.1), "no CPU or memory series"),
    (seen(0.1, 0.3, cpus=1, mb=256), "already the smallest size"),
])
def test_machines_that_stay_say_why(machine, why):
    [a] = right_size([machine], PRICES)
    assert not a.size and why in a.why and a.saving == 0


def test_advice_lines_sum_the_savings_and_name_the_commands_and_the_date():
    advice = right_size([seen(0.06, 0.24), seen(0.5, 0.5)], PRICES)
    head, lines = advice_lines("cgraph-idle", advice, PRICES)
    assert head == "Right-sizing cgraph-idle: 1 of 2 machines stayed low for 7 days; smaller sizes would save about " \
                   "$11.95/month"
    assert any("`/scale vm shared-cpu-1x` then `/scale memory 1792` (these 1 machines)" in line for line in lines)
    assert lines[-1].startswith("Priced from prices as of 2024-12")


def test_a_broken_price_file_says_what_it_needs(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text("as_of: 2025-01\nsizes: {shared-cpu-1x: [shared, 1]}\n")
    with pytest.raises(PricesError, match="has no memory_gb_month"):
        load_prices(str(bad))
    bad.write_text("as_of: 2025-01\nmemory_gb_month: 5\nsizes: {shared-cpu-1x: [shared, 1]}\n")
    with pytest.raises(PricesError, match=r"size shared-cpu-1x is \[shared, 1\], not \[cpu_kind, cpus, memory_mb"):
        load_prices(str(bad))
    good = tmp_path / "prices.json"
    good.write_text('{"as_of": "2026-11", "memory_gb_month": 4, "sizes": {"shared-cpu-1x": ["shared", 1, 256, 2]}}')
    assert load_prices(str(good)).monthly("shared", 1, 1280) == 6.0
