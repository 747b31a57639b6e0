"""The QoE read model: metrics over the sessionizer's rollups and views, for the API and the dashboards.

``metrics`` defines every metric once (name, unit, description, formula); ``queries`` reads the
rollups; ``api`` serves ``/v1/stats/*`` and ``/v1/views/{view_id}`` (the view from
:mod:`warehouse.views`, its events from :mod:`warehouse.events`). docs/metrics.md has the
definitions and the choices behind them.
"""
