"""Dash/plotly dashboards over the warehouse query layer."""
