"""sync_pipeline: keeps a time-tracking system and an accounting system in step.

Layers (each imports only from the ones above it):
    domain → contracts → connectors → store → defs → cli / sandbox
"""

__version__ = "0.1.0"
