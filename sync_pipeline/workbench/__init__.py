"""The accountants' workbench (``sync-pipeline workbench``): exceptions, decisions, comments, rule templates."""
