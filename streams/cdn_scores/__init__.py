"""Live CDN figures: the score fold over the beacon stream, its publisher, and the steering decision sink."""
