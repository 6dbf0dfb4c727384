"""What happened to each request, for audit. Only a discarding sink exists so far."""
