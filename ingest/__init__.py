"""Ingest: the HTTP front door for beacons, and the gateway for every other /v1 API."""
