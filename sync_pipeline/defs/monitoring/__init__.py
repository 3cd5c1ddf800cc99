"""Monitoring: alert sensors (run failures, dead letters, reconciliation mismatches) and the heartbeat."""
