"""The sessionizer: player events folded into views, per-minute facts and the QoE read model.

- ``fold``: the pure view-state machine (no Faust, no I/O): events in seq order → view totals
  and per-minute, per-CDN time slices.
- ``view``: the view record, its view-level facts (attempt, play, EBVS, VSF, VPF, score) and the
  delta of what a view contributes against what was already written.
- ``core``: open views in memory, first-touch rebuild from the warehouse, flushes.
- ``store``: the warehouse side (``views``, ``view_deltas`` and its rollups).
- ``agent``: the Faust agent, flush loop and open-view registry table.

docs/metrics.md defines every metric and explains the design.
"""
