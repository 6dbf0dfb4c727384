"""kvgate-sim: one simulated vLLM engine served over HTTP."""
