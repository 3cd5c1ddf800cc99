"""QuickBooks Online, behind :class:`~sync_pipeline.connectors.accounting.AccountingTarget`.

Modules: ``auth`` (OAuth 2.0, rotating refresh tokens, the token-store hook), ``client`` (the v3 API: minorversion,
requestid, batches of 30, the query language, Change Data Capture, the documented limits), ``faults`` (Fault bodies
→ transient / permanent), ``payloads`` (neutral documents → QuickBooks JSON: customers, items, tax, numbers,
currencies), ``records`` (strict reading of what comes back), ``target`` (:class:`QboTarget`). QuickBooks JSON never
leaves this package.
"""

from sync_pipeline.connectors.qbo.auth import FileTokenStore, MemoryTokenStore, QboAuth, Tokens, TokenStore
from sync_pipeline.connectors.qbo.client import QBO_BATCH_LIMITS, QBO_LIMITS, QboClient
from sync_pipeline.connectors.qbo.payloads import QboSettings
from sync_pipeline.connectors.qbo.target import QboTarget

__all__ = ["QBO_BATCH_LIMITS", "QBO_LIMITS", "FileTokenStore", "MemoryTokenStore", "QboAuth", "QboClient",
           "QboSettings", "QboTarget", "TokenStore", "Tokens"]
