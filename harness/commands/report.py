"""``harness report`` (being written)."""
