"""The shared rate limiter and its backends."""
