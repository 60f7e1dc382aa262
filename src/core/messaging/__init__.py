"""Messaging: what the platform tells people (email, WhatsApp), when, and how it went."""
