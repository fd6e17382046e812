"""The wall of a caller who does not see the whole city says whose units it shows: its titles
('Citywide overview', 'Wards with the lowest attendance') were written for the department and
would otherwise pass one district's (or one school's) numbers off as the city's."""

from __future__ import annotations

from typing import Any

import pytest

from ioc.metrics import dimensions

from .test_leaks import _find, draw

AUTH_BACKENDS = ("sqlite",)


def scope_text(client: Any, csrf: str) -> str | None:
    response = draw(client, csrf, "/screen/control_room")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    found = _find(response.get_json(), "wall-scope")
    return None if not found else str(found["children"])


def test_the_department_wall_names_no_scope(signed_in: Any) -> None:
    client, csrf = signed_in("le")
    assert scope_text(client, csrf) is None


@pytest.mark.parametrize("user", ["of", "wo", "pr"])
def test_a_restricted_wall_names_the_units_it_shows(
    user: str, city: Any, auth_store: Any, signed_in: Any
) -> None:
    school = next(s for s in dimensions.schools(auth_store) if s.school_id == city.own_school)
    expected = {
        "of": next(u.name for u in dimensions.districts(auth_store) if u.code == city.own),
        "wo": next(u.name for u in dimensions.wards(auth_store) if u.code == city.own_ward),
        "pr": school.school_name,
    }[user]
    client, csrf = signed_in(user)
    text = scope_text(client, csrf)
    assert text is not None and expected in text, text
    other = next(u.name for u in dimensions.districts(auth_store) if u.code == city.other)
    assert other not in text.split(": ", 1)[-1].replace("Showing only ", "").split(", ")
