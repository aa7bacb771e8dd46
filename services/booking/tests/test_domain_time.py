"""Club-time ranges, business hours and the free/busy merge as plain Python (no database)."""

from datetime import UTC, date, datetime, time

import pytest

from club_booking.domain.availability import Busy, merge
from club_booking.domain.closures import InvalidAreas, ResourceRef, affected_resources, daily_times
from club_booking.domain.settings import BookingSettings, BusinessHours
from club_booking.domain.timeranges import (
    Span,
    booking_span,
    day_span,
    parse_wall_time,
    subtract,
    union,
    wall_span,
)
from club_shared.clubtime import InvalidLocalTime, zone

LA = zone("America/Los_Angeles")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_club_days_are_23_24_and_25_hours_long():
    assert day_span(date(2026, 3, 8), LA).minutes == 23 * 60  # spring forward
    assert day_span(date(2026, 6, 12), LA).minutes == 24 * 60
    assert day_span(date(2026, 11, 1), LA).minutes == 25 * 60  # fall back


def test_a_booking_is_real_minutes_across_the_spring_forward_change():
    # Example 11: bay 1 at 2026-03-07 23:30 for 240 min ends 03-08 04:30 PDT (07:30Z–11:30Z).
    span = booking_span(date(2026, 3, 7), time(23, 30), 240, LA)
    assert (span.start, span.end) == (utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 11, 30))
    assert span.minutes == 240
    assert span.end.astimezone(LA).strftime("%Y-%m-%d %H:%M %Z") == "2026-03-08 04:30 PDT"
    with pytest.raises(InvalidLocalTime):
        booking_span(date(2026, 3, 8), time(2, 30), 60, LA)


def test_an_ambiguous_fall_back_start_is_its_first_occurrence():
    span = booking_span(date(2026, 11, 1), time(1, 30), 60, LA)
    assert span.start == utc(2026, 11, 1, 8, 30)  # 01:30 PDT
    assert span.end.astimezone(LA).strftime("%H:%M %Z") == "01:30 PST"  # an hour later, the second 01:30


def test_wall_ranges_wrap_past_midnight_and_midnight_is_end_of_day():
    overnight = wall_span(date(2026, 6, 12), time(22), time(6), LA)
    assert (overnight.start, overnight.end) == (utc(2026, 6, 13, 5), utc(2026, 6, 13, 13))
    to_midnight = wall_span(date(2026, 6, 12), time(22), parse_wall_time("24:00"), LA)
    assert to_midnight.end == utc(2026, 6, 13, 7)
    assert wall_span(date(2026, 6, 12), time(0), time(0), LA) == day_span(date(2026, 6, 12), LA)


def test_union_and_subtract_treat_touching_ranges_as_one():
    a = Span(utc(2026, 1, 1, 10), utc(2026, 1, 1, 11))
    b = Span(utc(2026, 1, 1, 11), utc(2026, 1, 1, 12))
    c = Span(utc(2026, 1, 1, 14), utc(2026, 1, 1, 15))
    assert union([c, b, a]) == [Span(a.start, b.end), c]
    base = Span(utc(2026, 1, 1, 9), utc(2026, 1, 1, 16))
    assert subtract(base, [a, b, c]) == [
        Span(base.start, a.start),
        Span(b.end, c.start),
        Span(c.end, base.end),
    ]
    assert not a.overlaps(b) and a.overlaps(Span(utc(2026, 1, 1, 10, 59), utc(2026, 1, 1, 13)))


def test_business_hours_default_and_from_settings():
    hours = BusinessHours()
    assert hours.for_day(date(2026, 6, 15)) is None  # Monday
    assert hours.for_day(date(2026, 6, 12)) == (time(8, 30), time(22))  # Friday
    assert hours.for_day(date(2026, 6, 14)) == (time(8, 30), time(18))  # Sunday
    custom = BusinessHours.from_setting(
        {"mon": {"open": "10:00", "close": "24:00"}, "tue": None, "wed": "junk"}
    )
    assert custom.for_day(date(2026, 6, 15)) == (time(10), time(0))
    assert custom.span(date(2026, 6, 15), LA).end == utc(2026, 6, 16, 7)
    assert custom.for_day(date(2026, 6, 16)) is None
    assert custom.for_day(date(2026, 6, 17)) == (time(8, 30), time(20))
    settings = BookingSettings.from_rows(
        {"booking.late_cancel_minutes": "x", "guest_passes.reset_period": "yearly"}
    )
    assert settings.late_cancel_minutes == 60 and settings.guest_pass_reset_period == "yearly"


def test_the_merge_gives_free_time_inside_hours_and_a_slot_grid():
    day = date(2026, 6, 12)
    whole = day_span(day, LA)
    open_span = BusinessHours().span(day, LA)
    spill = Busy(Span(whole.start.replace(hour=5), whole.start.replace(hour=9)), "booking")  # from D-1
    lunch = Busy(booking_span(day, time(12), 60, LA), "block")
    result = merge(whole, open_span, [spill, lunch], 30)
    assert [s.start.astimezone(LA).strftime("%H:%M") for s in result.free] == ["08:30", "13:00"]
    assert result.slots[0].span.start.astimezone(LA).time() == time(8, 30)
    assert len(result.slots) == 27  # 08:30–22:00 in 30-minute slots
    assert [s.available for s in result.slots if s.span.start.astimezone(LA).hour == 12] == [False, False]
    assert merge(whole, None, [spill], 30).free == []


def test_closure_areas_name_resources():
    resources = [ResourceRef(n, "simulator", str(n)) for n in range(1, 5)] + [
        ResourceRef(5, "conference_room")
    ]
    assert affected_resources("entire_facility", resources) == [1, 2, 3, 4, 5]
    assert affected_resources("all_bays", resources) == [1, 2, 3, 4]
    assert affected_resources('["bay_2", "conference_room"]', resources) == [2, 5]
    assert affected_resources("bay_3, 1", resources) == [1, 3]
    assert affected_resources("none", resources) == []
    for bad in ("bay_9", "sauna", "[1", "7"):
        with pytest.raises(InvalidAreas):
            affected_resources(bad, resources)
    assert daily_times(None, None) == (time(0), time(0))
    with pytest.raises(ValueError):
        daily_times(time(9), None)
