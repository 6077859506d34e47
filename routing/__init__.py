"""IO-free routing: line and ORI registries, line keys, and destination resolution."""
