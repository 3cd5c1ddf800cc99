-- finance_fx_period_rates: per currency pair and period, the rates consolidation translates with, derived
-- from the stored daily reference rates (and kept with their provenance):
--   average_rate : arithmetic mean of the rates published on the period's days, rounded half-even to
--                  10 decimals (exact integer arithmetic: DECIMAL division in DuckDB would be a float)
--   closing_rate : the rate of the last publication day on or before the period end
--   opening_rate : the rate of the last publication day before the period start (= previous closing)
-- Each rate also comes as a "minor rate": the factor from minor units of the base currency to minor units of
-- the quote currency (rate x 10^(quote minor units - base minor units)), so a translation is one multiplication.
-- Sources: finance_fx_daily (base_currency, quote_currency, rate_date, rate DECIMAL(28,10), source,
-- retrieved_at), finance_currencies (currency, minor_units). Parameters: $period, $period_start, $period_end.
WITH daily AS (
    SELECT *, CAST(rate * 10000000000 AS HUGEINT) AS units
    FROM finance_fx_daily
),
inside AS (
    SELECT base_currency, quote_currency,
           sum(units) AS total_units, count(*) AS days,
           min(rate_date) AS first_date, max(rate_date) AS last_date
    FROM daily
    WHERE rate_date BETWEEN $period_start AND $period_end
    GROUP BY base_currency, quote_currency
),
average AS (
    SELECT *,
        total_units // days AS q,
        total_units % days AS r
    FROM inside
),
closing AS (
    SELECT base_currency, quote_currency, arg_max(rate, rate_date) AS closing_rate, max(rate_date) AS closing_rate_date
    FROM daily
    WHERE rate_date <= $period_end
    GROUP BY base_currency, quote_currency
),
opening AS (
    SELECT base_currency, quote_currency, arg_max(rate, rate_date) AS opening_rate, max(rate_date) AS opening_rate_date
    FROM daily
    WHERE rate_date < $period_start
    GROUP BY base_currency, quote_currency
),
provenance AS (
    SELECT base_currency, quote_currency,
           string_agg(DISTINCT source, '+' ORDER BY source) AS source,
           max(retrieved_at) AS retrieved_at
    FROM daily
    WHERE rate_date <= $period_end
    GROUP BY base_currency, quote_currency
),
result AS (
SELECT
    $period AS period,
    c.base_currency,
    c.quote_currency,
    CAST(CAST(a.q + CASE WHEN 2 * a.r > a.days OR (2 * a.r = a.days AND a.q % 2 = 1) THEN 1 ELSE 0 END
              AS DECIMAL(38, 0)) * CAST(0.0000000001 AS DECIMAL(11, 10)) AS DECIMAL(28, 10)) AS average_rate,
    CAST(a.days AS BIGINT) AS average_days,
    a.first_date AS average_first_date,
    a.last_date AS average_last_date,
    CAST(c.closing_rate AS DECIMAL(28, 10)) AS closing_rate,
    c.closing_rate_date,
    CAST(o.opening_rate AS DECIMAL(28, 10)) AS opening_rate,
    o.opening_rate_date,
    p.source,
    p.retrieved_at
FROM closing AS c
LEFT JOIN average AS a USING (base_currency, quote_currency)
LEFT JOIN opening AS o USING (base_currency, quote_currency)
LEFT JOIN provenance AS p USING (base_currency, quote_currency)
),
factors AS (
    SELECT b.currency AS base_currency, q.currency AS quote_currency,
           CASE q.minor_units - b.minor_units
               WHEN -3 THEN CAST(0.001 AS DECIMAL(8, 3)) WHEN -2 THEN 0.01 WHEN -1 THEN 0.1 WHEN 0 THEN 1
               WHEN 1 THEN 10 WHEN 2 THEN 100 WHEN 3 THEN 1000 END AS factor
    FROM finance_currencies AS b, finance_currencies AS q
)
SELECT
    r.*,
    CAST(r.average_rate * f.factor AS DECIMAL(38, 14)) AS average_minor_rate,
    CAST(r.closing_rate * f.factor AS DECIMAL(38, 14)) AS closing_minor_rate,
    CAST(r.opening_rate * f.factor AS DECIMAL(38, 14)) AS opening_minor_rate
FROM result AS r
JOIN factors AS f USING (base_currency, quote_currency)
ORDER BY r.base_currency, r.quote_currency
