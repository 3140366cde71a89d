"""Vietnamese public holidays: the fixed-date ones, and Tết and the Hùng Kings' day (lunar
dates) for the years listed here. Add a year's lunar dates when the government announces them."""

from __future__ import annotations

from datetime import date, timedelta

# First day of the lunar new year (mùng 1 Tết) and the Hùng Kings' commemoration (10/3 lunar).
TET = {
    2023: date(2023, 1, 22),
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}
HUNG_KINGS = {
    2023: date(2023, 4, 29),
    2024: date(2024, 4, 18),
    2025: date(2025, 4, 7),
    2026: date(2026, 4, 26),
    2027: date(2027, 4, 16),
    2028: date(2028, 4, 4),
    2029: date(2029, 4, 23),
    2030: date(2030, 4, 12),
}


def holidays(year: int) -> dict[date, str]:
    """{day: name} of the public holidays of ``year`` (Labour Code 2019, art. 112): New Year,
    Tết (the eve and the first three days), the Hùng Kings, 30/4, 1/5, National Day (2/9 and
    the day before). Lunar holidays only for the years listed above."""
    days = {
        date(year, 1, 1): "Tết Dương lịch",
        date(year, 4, 30): "Ngày Giải phóng miền Nam",
        date(year, 5, 1): "Ngày Quốc tế Lao động",
        date(year, 9, 1): "Quốc khánh",
        date(year, 9, 2): "Quốc khánh",
    }
    if year in TET:
        for offset in range(-1, 3):
            days[TET[year] + timedelta(days=offset)] = "Tết Nguyên đán"
    if year in HUNG_KINGS:
        days[HUNG_KINGS[year]] = "Giỗ Tổ Hùng Vương"
    return days


def holidays_between(first: date, last: date) -> dict[date, str]:
    """The public holidays from ``first`` to ``last`` inclusive."""
    found: dict[date, str] = {}
    for year in range(first.year, last.year + 1):
        found.update({d: n for d, n in holidays(year).items() if first <= d <= last})
    return found
