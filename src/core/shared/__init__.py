"""Kernel shared by every bounded context: values, ids, clock, principal, base errors."""
