"""What happened to each request: one audit record per request, written to sinks off the
request path, and an output-distribution monitor per model version (`monitor`)."""
