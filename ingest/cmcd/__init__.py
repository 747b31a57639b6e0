"""CMCD v2 event-mode reports (CTA-5004-B) turned into our player events.

A player without our SDK, but with CMCD event mode (hls.js ``cmcd.eventTargets``, dash.js,
Shaka), still yields views and metrics. It POSTs ``Content-Type: application/cmcd`` bodies,
one CMCD record per line, to ``POST /v1/cmcd``. Three steps, a module each:

- :mod:`ingest.cmcd.parse`: each line, an HTTP Structured Field dictionary (RFC 9651), as a
  typed, range-checked record, or the line and key that are wrong;
- :mod:`ingest.cmcd.state`: records as events of the beacon contract (REFERENCE §5), with the
  per-session memory that play-state changes need, since reports arrive out of order;
- :mod:`ingest.cmcd.route`: the route, which sends a session's events to the ``beacons`` topic
  as ordinary beacon records and answers as CMCD expects.
"""

from ingest.cmcd.route import CmcdIngest, router

__all__ = ["CmcdIngest", "router"]
