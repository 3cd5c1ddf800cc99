"""Telemetry: each finished run exported as OpenTelemetry spans under its trace id (services.telemetry)."""
