"""The simulated engine: block-level prefix cache, step scheduler, roofline step time."""
