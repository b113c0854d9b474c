"""The operator commands, on real trees (and `smoke` through the real stack)."""
