-- Macros for the billing models (created by sync_pipeline.services.billing.connect before they run).
-- Each statement ends with ';' on its own line end; values are never formatted in.

-- Time units (tu) rounded to an increment: 'up', 'down', else to the nearest (half up). No increment: as is.
CREATE OR REPLACE TEMP MACRO billing_round_tu(tu, inc, mode) AS
    CASE
        WHEN inc IS NULL THEN tu
        WHEN mode = 'up' THEN ((tu + inc - 1) // inc) * inc
        WHEN mode = 'down' THEN (tu // inc) * inc
        ELSE ((tu + inc // 2) // inc) * inc
    END;
