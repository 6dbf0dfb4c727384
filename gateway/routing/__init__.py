"""From a parsed request to a chosen engine: the request story, snapshots and pickers."""
