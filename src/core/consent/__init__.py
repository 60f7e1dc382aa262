"""Consent and privacy: the consent ledger, policy documents and cookie choices, analytics
consent, and a person's export, erasure and the retention of their data (issue 10)."""
