"""security adapter."""
