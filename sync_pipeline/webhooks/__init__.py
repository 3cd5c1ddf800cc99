"""Webhook receivers: entry points that accept signed event deliveries and store them durably.

``xero`` verifies Xero's ``x-xero-signature`` (including the intent-to-receive handshake) and
appends the events to the operational store's event store; the ``xero_webhook_events`` sensor turns
them into runs. ``server`` serves the WSGI app; any WSGI server (gunicorn, waitress) can serve it too.
"""
