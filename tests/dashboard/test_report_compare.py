"""Two periods side by side (issue 16): every row's votes in both periods are the
independent count from the generated votes; a bad period is a 400 with the reason; a unit
official compares only their units."""

from __future__ import annotations

import datetime as dt

from tests.dashboard.expected import figures

ROWS = {"q": {"q"}, "p1": {"p1", "p1a"}, "p2": {"p2"}, "p3": {"p3"}}
SEPT = (dt.date(2025, 9, 1), dt.date(2025, 9, 30))
OCT = (dt.date(2025, 10, 1), dt.date(2025, 10, 31))


def cell(html: str, unit: str, attr: str) -> str:
    row = html.split(f'data-unit="{unit}"')[1].split("</tr>")[0]
    return row.split(f'{attr}="')[1].split('"')[0]


def test_two_months_side_by_side(client_for, dataset):
    _engine, votes = dataset
    html = client_for("district").get("/dashboard/compare?unit=q&a=2025-09&b=2025-10").text
    assert "09/2025 → 10/2025" in html
    for unit, units in ROWS.items():
        assert cell(html, unit, "data-a-votes") == str(figures(votes, units, *SEPT)["votes"])
        assert cell(html, unit, "data-b-votes") == str(figures(votes, units, *OCT)["votes"])
    total = html.split('class="total"')[1].split("</tr>")[0]
    everything = set().union(*ROWS.values())
    assert f'data-b-votes="{figures(votes, everything, *OCT)["votes"]}"' in total


def test_default_is_the_month_before_and_bad_periods_are_refused(client_for):
    client = client_for("district")
    html = client.get("/dashboard/compare?unit=q&b=2025-Q4").text
    assert "Quý 3/2025 → Quý 4/2025" in html and 'value="2025-Q3"' in html
    r = client.get("/dashboard/compare?unit=q&a=2025-13&b=2025-10")
    assert r.status_code == 400 and "2025-13" in r.text


def test_a_unit_official_compares_their_units_only(client_for):
    ward = client_for("ward1")
    assert ward.get("/dashboard/compare?unit=p2&a=2025-09&b=2025-10").status_code == 404
    html = ward.get("/dashboard/compare?a=2025-09&b=2025-10").text
    assert 'data-unit="p1a"' in html and 'data-unit="p2"' not in html
