from datetime import UTC, date, datetime, time

import pytest

from club_shared.clubtime import InvalidLocalTime, day_bounds, interval, to_local, to_utc, zone

LA = zone("America/Los_Angeles")


def test_summer_and_winter_offsets():
    assert to_utc(date(2026, 7, 1), time(9, 0), LA) == datetime(2026, 7, 1, 16, 0, tzinfo=UTC)
    assert to_utc(date(2026, 1, 15), time(9, 0), LA) == datetime(2026, 1, 15, 17, 0, tzinfo=UTC)


def test_spring_forward_gap_does_not_exist():
    with pytest.raises(InvalidLocalTime) as exc:
        to_utc(date(2026, 3, 8), time(2, 30), LA)
    assert exc.value.code == "INVALID_LOCAL_TIME"


def test_fall_back_ambiguity_is_the_first_occurrence():
    # 01:30 happens twice on 2026-11-01; the first is still daylight time (UTC-7).
    assert to_utc(date(2026, 11, 1), time(1, 30), LA) == datetime(2026, 11, 1, 8, 30, tzinfo=UTC)


def test_a_booking_across_fall_back_keeps_its_real_minutes():
    starts_at, ends_at = interval(date(2026, 11, 1), time(1, 0), 120, LA)
    assert (ends_at - starts_at).total_seconds() == 7200
    # Two real hours after 01:00 PDT is 02:00 PST on the wall clock.
    assert to_local(ends_at, LA).time() == time(2, 0)


def test_a_booking_across_midnight_ends_the_next_day():
    starts_at, ends_at = interval(date(2026, 6, 5), time(23, 30), 60, LA)
    assert to_local(ends_at, LA).date() == date(2026, 6, 6)


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 8), 23), (date(2026, 11, 1), 25), (date(2026, 6, 1), 24)]
)
def test_club_days_are_23_24_or_25_hours(day, hours):
    start, end = day_bounds(day, LA)
    assert (end - start).total_seconds() == hours * 3600
