"""Engine simulator, workloads and benchmark harness for kvgate."""
