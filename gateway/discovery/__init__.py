"""Which engines exist, what they serve, and whether they are ready."""
