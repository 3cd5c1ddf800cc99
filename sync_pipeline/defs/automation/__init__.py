"""Automation: sensors and schedules that decide which entity × period partitions run, and when."""
