"""Foundation: settings, errors, HTTP and process helpers, the topic list, Kafka admin and the embedded broker.

It imports nothing of ours but ``schemas``; every other package may import it."""
