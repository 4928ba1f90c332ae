"""strongroom's domain model: aggregates, events, value objects and errors (no I/O)."""
