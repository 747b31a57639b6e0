"""The warehouse: every SQL statement of the platform, a module per table family, one writer per table.

Other packages call these typed functions and never compose SQL (tests/warehouse/test_sql_lives_in_warehouse.py).

- ``events``: ``beacon_records``, ``beacon_events``, ``events_per_minute`` (written by the raw sink)
- ``views``: ``views``, ``view_deltas`` and a view's latest state (written by the sessionizer)
- ``stats.queries``: the metrics over ``qoe_minute``, ``qoe_minute_cube`` and ``qoe_hour`` (filled from
  ``view_deltas`` by materialized views)
- ``demand``: the autoscaling demand over ``qoe_minute_cube``
- ``steering``: ``steering_decisions`` (written by the stream worker's decision sink)
- ``interactions``: the recommender's reads of ``views``
- ``catalog``: ``catalog_titles``, ``catalog_loads`` (written by the recommender's catalogue loader)
- ``migrations``: the DDL of all of them, and the ledger ``schema_migrations``
"""
