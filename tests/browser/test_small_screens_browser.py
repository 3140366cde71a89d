"""Layout at the two widths of the walk-through: on a phone (390 px) the monitoring table keeps a
school's name on at most two lines and the charts keep readable labels; on a desktop (1366 px)
the report's period list is as wide as its longest period."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}
SCHOOL_NAME = "Trường THCS Thử Nghiệm"  # of district BR-D, seeded by the live server
READABLE_PX = 10  # the rendered height of an 11 px label; shrunk with the screen it was ~5


def _label_heights(page, selector: str) -> list[float]:
    return page.locator(selector).evaluate_all(
        "labels => labels.map(l => l.getBoundingClientRect().height)"
    )


def test_monitoring_on_a_phone_keeps_names_and_labels_readable(live_server, page):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, live_server.people["district_officer"])
    page.goto(f"{live_server.url}/monitoring")
    link = page.locator("table.schools td.name a", has_text=SCHOOL_NAME)
    lines = link.evaluate("a => a.getClientRects().length")
    assert 1 <= lines <= 2, f"{SCHOOL_NAME!r} takes {lines} lines on a phone"
    heights = _label_heights(page, "figure.chart svg.bars text.label")
    assert heights and min(heights) >= READABLE_PX, heights


def test_report_charts_on_a_phone_keep_readable_labels(live_server, page):
    page.set_viewport_size(PHONE)
    sign_in(page, live_server, live_server.people["district_officer"])
    page.goto(f"{live_server.url}/reports/")
    heights = _label_heights(page, "figure.chart svg.hbars text.label")
    assert heights and min(heights) >= READABLE_PX, heights


def test_the_report_period_list_is_not_cut_off_on_a_desktop(live_server, page):
    page.set_viewport_size(DESKTOP)
    sign_in(page, live_server, live_server.people["district_officer"])
    page.goto(f"{live_server.url}/reports/")
    select = page.locator('form.filters select[name="period"]')
    room, needed = select.evaluate(
        """s => {
          const style = getComputedStyle(s);
          const context = document.createElement('canvas').getContext('2d');
          context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
          const widest = Math.max(...[...s.options].map(o => context.measureText(o.text).width));
          const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
          return [s.clientWidth - padding, widest];
        }"""
    )
    assert room >= needed, f"the period list shows {room:.0f} px of {needed:.0f} px"
