"""Infrastructure."""
