"""Browser tests: a real headless chromium against the real local stack."""
