"""The pricing function on hand-made sessions with known answers."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.services.pricing import Period, Terms, Usage, local_to_utc, price, round_money

BERLIN = "Europe/Berlin"
EVERY_DAY = frozenset(range(7))


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def steady(start: datetime, end: datetime, kwh: float, steps: int = 1) -> Usage:
    """A session drawing evenly: `steps` readings spread over it."""
    length = end - start
    readings = tuple((start + length * i / steps, D(str(kwh * 1000)) * i / steps) for i in range(steps + 1))
    return Usage(start=start, end=end, readings=readings)


def line(result, kind: str, description_part: str = ""):
    found = [x for x in result.lines if x.kind == kind and description_part in x.description]
    assert len(found) == 1, result.lines
    return found[0]


def test_flat_energy_price_with_tax_rounded_per_line():
    terms = Terms(currency="EUR", price_per_kwh=D("0.39"), tax_rate=D("0.19"))
    result = price(terms, steady(at(2026, 5, 4, 10), at(2026, 5, 4, 11), kwh=10.123))
    assert line(result, "energy").amount == D("3.95")  # 10.123 x 0.39 = 3.94797
    assert (result.net, result.tax, result.total) == (D("3.95"), D("0.75"), D("4.70"))


def test_energy_is_split_at_a_time_of_use_boundary_by_the_readings_on_each_side():
    # 18:00-22:00 local (Berlin, summer: UTC+2) costs 0.60; otherwise 0.30.
    peak = Period(days=EVERY_DAY, start=time(18), end=time(22), price_per_kwh=D("0.60"))
    terms = Terms(currency="EUR", time_zone=BERLIN, price_per_kwh=D("0.30"), periods=(peak,))
    start, boundary, end = at(2026, 6, 1, 15), at(2026, 6, 1, 16), at(2026, 6, 1, 17)  # 17:00, 18:00, 19:00 local
    # 4 kWh before the boundary, 10 kWh after, but the middle reading is 30 min before it.
    usage = Usage(
        start=start,
        end=end,
        readings=((start, D(0)), (boundary - timedelta(minutes=30), D(3000)), (end, D(14000))),
    )
    result = price(terms, usage)
    # Between 15:30 and 17:00 UTC 11 kWh flowed evenly: a third of it before 16:00.
    assert line(result, "energy", "standard").quantity == D("6.667")
    assert line(result, "energy", "18:00-22:00").quantity == D("7.333")
    assert result.energy_wh == D(14000)


def test_window_crossing_midnight_applies_on_both_sides():
    night = Period(days=EVERY_DAY, start=time(22), end=time(6), price_per_kwh=D("0.20"))
    terms = Terms(currency="EUR", time_zone="UTC", price_per_kwh=D("0.50"), periods=(night,))
    result = price(terms, steady(at(2026, 5, 4, 21), at(2026, 5, 5, 7), kwh=10, steps=10))
    assert line(result, "energy", "22:00-06:00").quantity == D("8.000")
    assert line(result, "energy", "standard").quantity == D("2.000")


def test_window_on_some_weekdays_only():
    weekend = Period(days=frozenset({5, 6}), start=time(0), end=time(0), price_per_kwh=D("0.25"))
    terms = Terms(currency="EUR", price_per_kwh=D("0.40"), periods=(weekend,))
    # Friday 23:00 to Saturday 01:00 UTC: one hour each side of the weekend's start.
    result = price(terms, steady(at(2026, 5, 8, 23), at(2026, 5, 9, 1), kwh=2, steps=2))
    assert line(result, "energy", "00:00-00:00").quantity == D("1.000")
    assert line(result, "energy", "standard").quantity == D("1.000")


def test_spring_forward_skipped_hour_counts_real_time():
    # Berlin, 29 March 2026: 02:00 local jumps to 03:00. A window 01:00-04:00 local
    # lasts two real hours that night.
    window = Period(days=EVERY_DAY, start=time(1), end=time(4), price_per_minute=D("1"))
    terms = Terms(currency="EUR", time_zone=BERLIN, periods=(window,))
    result = price(terms, steady(at(2026, 3, 28, 23), at(2026, 3, 29, 3), kwh=0))
    assert line(result, "time", "01:00-04:00").quantity == D("120.00")


def test_window_edge_inside_the_skipped_hour_starts_at_the_jump():
    zone = ZoneInfo(BERLIN)
    assert local_to_utc(datetime(2026, 3, 29, 2, 30), zone) == at(2026, 3, 29, 1, 0)
    window = Period(days=EVERY_DAY, start=time(2, 30), end=time(5), price_per_minute=D("1"))
    terms = Terms(currency="EUR", time_zone=BERLIN, periods=(window,))
    result = price(terms, steady(at(2026, 3, 29, 0), at(2026, 3, 29, 4), kwh=0))
    # From the jump (03:00 local, 01:00 UTC) to 05:00 local (03:00 UTC): 120 minutes.
    assert line(result, "time", "02:30-05:00").quantity == D("120.00")


def test_fall_back_repeated_hour_counts_real_time():
    # Berlin, 25 October 2026: 03:00 local goes back to 02:00. A window 01:00-04:00
    # local lasts four real hours that night.
    window = Period(days=EVERY_DAY, start=time(1), end=time(4), price_per_minute=D("1"))
    terms = Terms(currency="EUR", time_zone=BERLIN, periods=(window,))
    result = price(terms, steady(at(2026, 10, 24, 22), at(2026, 10, 25, 5), kwh=0))
    assert line(result, "time", "01:00-04:00").quantity == D("240.00")
    # An edge in the repeated hour is its first occurrence (still summer time, UTC+2).
    assert local_to_utc(datetime(2026, 10, 25, 2, 30), ZoneInfo(BERLIN)) == at(2026, 10, 25, 0, 30)


def test_idle_fee_after_grace_and_charging_time_excludes_idle():
    terms = Terms(currency="EUR", price_per_minute=D("0.10"), idle_price_per_minute=D("0.50"), idle_grace_minutes=15)
    start, full, end = at(2026, 5, 4, 10), at(2026, 5, 4, 11), at(2026, 5, 4, 11, 45)
    usage = Usage(
        start=start, end=end, readings=((start, D(0)), (full, D(20000)), (end, D(20000))), idle=((full, end),)
    )
    result = price(terms, usage)
    assert line(result, "idle").quantity == D("30.00")  # 45 idle minutes, 15 of grace
    assert line(result, "idle").amount == D("15.00")
    assert line(result, "time").quantity == D("60.00")


def test_idle_within_grace_costs_nothing():
    terms = Terms(currency="EUR", idle_price_per_minute=D("0.50"), idle_grace_minutes=15)
    start, end = at(2026, 5, 4, 10), at(2026, 5, 4, 11)
    usage = Usage(
        start=start, end=end, readings=((start, D(0)), (end, D(5000))), idle=((end - timedelta(minutes=10), end),)
    )
    assert [x.kind for x in price(terms, usage).lines] == []


def test_overlapping_idle_intervals_count_once():
    terms = Terms(currency="EUR", idle_price_per_minute=D("1"))
    start, end = at(2026, 5, 4, 10), at(2026, 5, 4, 11)
    idle = ((at(2026, 5, 4, 10, 10), at(2026, 5, 4, 10, 30)), (at(2026, 5, 4, 10, 20), at(2026, 5, 4, 10, 40)))
    result = price(terms, Usage(start=start, end=end, readings=((start, D(0)), (end, D(0))), idle=idle))
    assert line(result, "idle").quantity == D("30.00")


def test_minimum_and_maximum_adjust_the_net_before_tax():
    base = {"currency": "EUR", "price_per_kwh": D("0.50"), "tax_rate": D("0.20")}
    small = price(Terms(**base, minimum_price=D("5.00")), steady(at(2026, 5, 4, 10), at(2026, 5, 4, 11), kwh=2))
    assert line(small, "minimum").amount == D("4.00")
    assert (small.net, small.tax, small.total) == (D("5.00"), D("1.00"), D("6.00"))
    large = price(Terms(**base, maximum_price=D("20.00")), steady(at(2026, 5, 4, 10), at(2026, 5, 4, 14), kwh=100))
    assert line(large, "maximum").amount == D("-30.00")
    assert (large.net, large.total) == (D("20.00"), D("24.00"))


def test_session_fee_and_currency_without_minor_unit():
    terms = Terms(currency="JPY", price_per_kwh=D("35"), session_fee=D("100"))
    result = price(terms, steady(at(2026, 5, 4, 10), at(2026, 5, 4, 11), kwh=10.55))
    assert line(result, "energy").amount == D("369")  # 369.25 rounded to whole yen
    assert result.total == D("469")


def test_repricing_gives_the_same_result():
    peak = Period(days=EVERY_DAY, start=time(7), end=time(9), price_per_kwh=D("0.61"), price_per_minute=D("0.03"))
    terms = Terms(currency="EUR", time_zone=BERLIN, price_per_kwh=D("0.41"), periods=(peak,), tax_rate=D("0.19"))
    usage = steady(at(2026, 5, 4, 4, 13), at(2026, 5, 4, 8, 7), kwh=41.3, steps=17)
    assert price(terms, usage) == price(terms, usage)


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.integers(min_value=1, max_value=3000),
    offset=st.integers(min_value=0, max_value=60 * 24 * 365),
    kwh=st.decimals(min_value=0, max_value=300, places=3),
    steps=st.integers(min_value=1, max_value=20),
)
def test_split_never_loses_or_invents_energy(minutes, offset, kwh, steps):
    night = Period(days=EVERY_DAY, start=time(22), end=time(6), price_per_kwh=D("0.20"))
    peak = Period(days=frozenset({0, 1, 2, 3, 4}), start=time(17), end=time(20), price_per_kwh=D("0.70"))
    terms = Terms(currency="EUR", time_zone=BERLIN, price_per_kwh=D("0.40"), periods=(night, peak))
    start = at(2026, 1, 1) + timedelta(minutes=offset)
    result = price(terms, steady(start, start + timedelta(minutes=minutes), kwh=float(kwh), steps=steps))
    energy_lines = sum((x.quantity for x in result.lines if x.kind == "energy"), D(0))
    assert abs(result.energy_wh - kwh * 1000) < D("0.001")
    # Shown quantities are rounded to Wh per line; together they stay within a Wh per line.
    assert abs(energy_lines - kwh) <= D("0.001") * 3
    assert result.total == result.net + result.tax
    assert all(x.amount == round_money(x.amount, "EUR") for x in result.lines)


@pytest.mark.parametrize("rate", [D("0"), D("0.07"), D("0.19"), D("0.255")])
def test_tax_is_the_rounded_net_times_the_rate(rate):
    result = price(
        Terms(currency="EUR", price_per_kwh=D("0.333"), tax_rate=rate),
        steady(at(2026, 5, 4, 10), at(2026, 5, 4, 11), kwh=7.77),
    )
    assert result.tax == round_money(result.net * rate, "EUR")
