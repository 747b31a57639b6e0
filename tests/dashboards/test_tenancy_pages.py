"""Tenancy on the dashboards: a user bound to a property sees that property's data only, whatever
they pick; a user bound to none sees every property."""

from __future__ import annotations

from clickhouse_connect.driver.client import Client
from dash import html

from dashboards.pages import qoe, views
from tests.factories.tenancy import PropertyView, store_views

PLAYED = [PropertyView("a-1", "brand-a"), PropertyView("a-2", "brand-a"), PropertyView("b-1", "brand-b")]


def attempts(tiles: list[html.Div]) -> str:
    return str(tiles[0].children[0].children)


def test_the_overview_of_a_bound_user_counts_their_property_only(warehouse: Client) -> None:
    store_views(warehouse, PLAYED)
    everyone = qoe.render(warehouse, 60, {}, "plays", "property")
    assert attempts(everyone[0]) == "3"
    assert {(r["value"], r["attempts"]) for r in everyone[3]} == {("brand-a", 2), ("brand-b", 1)}

    tiles, _, _, rows, options = qoe.render(warehouse, 60, {"property": "brand-b"}, "plays", "property", "brand-a")
    assert attempts(tiles) == "2"  # the pick of another property is overridden, not obeyed
    assert [(r["value"], r["attempts"]) for r in rows] == [("brand-a", 2)]
    assert options["property"] == ["brand-a"]


def test_the_view_explorer_of_a_bound_user_shows_no_view_of_another_property(warehouse: Client) -> None:
    store_views(warehouse, PLAYED)
    mine = views.render(warehouse, "a-1", "brand-a")
    assert mine[2]  # the events of the view
    theirs, _, events, recent = views.render(warehouse, "b-1", "brand-a")
    assert "No view 'b-1'" in str(theirs) and events == []
    assert "b-1" not in str(recent) and "a-1" in str(recent)
    assert "b-1" in str(views.render(warehouse, "b-1")[3])  # a user bound to none sees both
