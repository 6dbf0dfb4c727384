"""Input and output guards. Only pass-through guards exist so far."""
