"""Python SDK for native and TV players, load tests and the audience simulator."""
