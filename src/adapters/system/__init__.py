"""system adapter."""
