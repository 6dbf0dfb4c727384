"""Talking to engines: the shared upstream client, header rules, streaming relay, retries."""
