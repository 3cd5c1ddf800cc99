"""httpx clients: one shared resilient HTTP layer, one thin module per external system."""
