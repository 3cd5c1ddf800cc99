-- clean_time_entries: every raw entry of the partition, typed, mapped to canonical ids, rated, with exactly
-- one disposition (billable | non_billable | held | quarantined) and, unless billable, the reason.
-- Sources: raw_entries (raw_time_entries with the optional columns present), map_clients, map_projects,
-- map_tasks, rate_cards (the mapping document as relations, built by services.billing), day_decisions (the
-- latest recorded decision per person-day held for review, store.hours_reviews).
-- Hours: an entry over $max_hours_per_entry is quarantined alone; a person-day whose other entries add up past
-- $max_hours_per_day is held whole for review until a decision releases or quarantines it (a decision taken on
-- another day total no longer applies).
-- Shared with clean_expenses: the billing_* macros of macros/billing.sql (unknown client / project,
-- source non-billable reasons, disposition and its reason).
-- Parameters: $entity, $period, $period_start, $period_end, $today, $timezone, $require_approval,
-- $currencies, $rate_limit_currencies, $rate_limit_values (the highest rate per currency, same order),
-- $locked_through, $max_hours_per_entry, $max_hours_per_day, $strict_clients, $strict_projects, $use_source_rates.
-- Rows come in no particular order (sorting 5M ids costs more than the rest); callers sort when they need to.
WITH typed AS (
    SELECT
        r.*,
        TRY_CAST(r.spent_date AS DATE) AS source_date,
        -- an entry belongs to its entity's local date: from the start instant when the source has one
        -- (correct across DST), else the source system's own date
        CAST(timezone($timezone, TRY_CAST(r.started_at AS TIMESTAMPTZ)) AS DATE) AS started_local_date
    FROM raw_entries AS r
),
dated AS (
    SELECT t.*, coalesce(t.started_local_date, t.source_date) AS d FROM typed AS t
),
person_day AS (
    SELECT
        x.*,
        -- an entry quarantined for its own length does not count towards its day
        sum(CASE WHEN x.hours > 0 AND x.hours <= CAST($max_hours_per_entry AS DECIMAL(18, 6))
                 THEN CAST(x.hours AS DECIMAL(18, 6)) ELSE 0 END)
            OVER (PARTITION BY x.user_id, x.d) AS person_day_hours
    FROM dated AS x
),
reviewed AS (
    SELECT
        p.*,
        p.person_day_hours > CAST($max_hours_per_day AS DECIMAL(18, 6)) AS day_over_limit,
        dd.decision AS day_decision,
        dd.day_hours = p.person_day_hours AS day_decision_current,
        dd.day_hours AS day_decision_hours,
        dd.decided_by AS day_decided_by,
        dd.decided_at AS day_decided_at,
        dd.note AS day_decision_note
    FROM person_day AS p
    LEFT JOIN day_decisions AS dd ON dd.user_id = p.user_id AND dd.day = p.d
),
mapped AS (
    SELECT
        p.*,
        mc.client_id AS canonical_client_id,
        mc.client_name AS canonical_client_name,
        mc.internal AS client_internal,
        coalesce(mc.invoice_currency, p.client_currency) AS invoice_currency,
        mp.project_id IS NOT NULL AS project_mapped,
        coalesce(mp.billing, 'hourly') AS project_billing,
        mp.project_name AS mapped_project_name,
        mt.task_billable,
        mt.task_description,
        '' AS no_key
    FROM reviewed AS p
    LEFT JOIN map_clients AS mc ON mc.source_client_id = p.client_id
    LEFT JOIN map_projects AS mp ON mp.project_id = p.project_id
    LEFT JOIN map_tasks AS mt ON mt.task_id = p.task_id
),
card_days AS (
    -- each card once per day of the period it is in force: the joins below are plain equality joins
    -- (entries outside the period are quarantined before their rate matters)
    SELECT c.*, CAST(g.day AS DATE) AS d
    FROM rate_cards AS c,
         generate_series(CAST($period_start AS DATE), CAST($period_end AS DATE), INTERVAL 1 DAY) AS g(day)
    WHERE CAST(g.day AS DATE) BETWEEN c.valid_from AND c.valid_to
),
rated AS (
    -- rate precedence: task (on the project, then anywhere) > user on project > project > client >
    -- the project system's own rate (when use_source_rates) > entity default; at most one card per level
    -- matches a date (the mapping refuses overlapping cards)
    SELECT
        m.*,
        coalesce(tp.rate, tk.rate, up.rate, pr.rate, cl.rate,
                 CASE WHEN $use_source_rates THEN CAST(m.billable_rate AS DECIMAL(18, 6)) END, ed.rate) AS unit_rate,
        coalesce(tp.list_rate, tk.list_rate, up.list_rate, pr.list_rate, cl.list_rate,
                 CASE WHEN $use_source_rates THEN CAST(m.billable_rate AS DECIMAL(18, 6)) END, ed.list_rate) AS list_rate,
        coalesce(tp.billable_percent, tk.billable_percent, up.billable_percent, pr.billable_percent,
                 cl.billable_percent, CASE WHEN $use_source_rates AND m.billable_rate IS NOT NULL THEN 100 END,
                 ed.billable_percent) AS billable_percent,
        CASE
            WHEN tp.rate IS NOT NULL THEN 'task:' || tp.card_id
            WHEN tk.rate IS NOT NULL THEN 'task:' || tk.card_id
            WHEN up.rate IS NOT NULL THEN 'user_project:' || up.card_id
            WHEN pr.rate IS NOT NULL THEN 'project:' || pr.card_id
            WHEN cl.rate IS NOT NULL THEN 'client:' || cl.card_id
            WHEN $use_source_rates AND m.billable_rate IS NOT NULL THEN 'source_system'
            WHEN ed.rate IS NOT NULL THEN 'entity_default:' || ed.card_id
        END AS rate_source,
        coalesce(tp.currency, tk.currency, up.currency, pr.currency, cl.currency,
                 CASE WHEN $use_source_rates AND m.billable_rate IS NOT NULL THEN m.client_currency END,
                 ed.currency, m.invoice_currency) AS rate_currency
    FROM mapped AS m
    LEFT JOIN card_days AS tp ON tp.level = 'task_project' AND tp.match_key = m.project_id || '/' || m.task_id
        AND tp.d = m.d
    LEFT JOIN card_days AS tk ON tk.level = 'task' AND tk.match_key = m.task_id AND tk.d = m.d
    LEFT JOIN card_days AS up ON up.level = 'user_project' AND up.match_key = m.project_id || '/' || m.user_id
        AND up.d = m.d
    LEFT JOIN card_days AS pr ON pr.level = 'project' AND pr.match_key = m.project_id AND pr.d = m.d
    LEFT JOIN card_days AS cl ON cl.level = 'client' AND cl.match_key = coalesce(m.canonical_client_id, m.client_id)
        AND cl.d = m.d
    LEFT JOIN card_days AS ed ON ed.level = 'entity_default' AND ed.match_key = m.no_key AND ed.d = m.d
),
reasoned AS (
    SELECT
        t.*,
        coalesce(
            billing_source_non_billable_reason(t.billed_elsewhere, t.billable, t.client_internal, t.project_billing),
            CASE
                WHEN t.project_billing = 'fixed_fee' THEN 'fixed-fee project: billed by milestones, not by time'
                WHEN t.task_billable = false THEN 'internal task (mapping: tasks.billable = false)'
            END) AS non_billable_reason
    FROM rated AS t
),
judged AS (
    SELECT
        t.*,
        coalesce(
            CASE
                WHEN t.source_problem IS NOT NULL THEN 'unreadable source record: ' || t.source_problem
                WHEN t.source_date IS NULL AND t.started_local_date IS NULL
                    THEN 'invalid spent_date ' || coalesce(t.spent_date, 'null')
                WHEN t.d > CAST($today AS DATE) THEN 'future date ' || CAST(t.d AS VARCHAR)
                WHEN t.d < CAST($period_start AS DATE) OR t.d > CAST($period_end AS DATE)
                    THEN 'local date ' || CAST(t.d AS VARCHAR) || ' (' || $timezone || ') outside billing period ' || $period
                WHEN t.d <= TRY_CAST($locked_through AS DATE)
                    THEN 'locked period: entries up to ' || $locked_through || ' are closed'
                WHEN t.hours IS NULL OR t.hours <= 0 THEN 'non-positive hours ' || coalesce(CAST(t.hours AS VARCHAR), 'null')
                WHEN t.hours > CAST($max_hours_per_entry AS DECIMAL(18, 6))
                    THEN 'entry of ' || CAST(t.hours AS VARCHAR) || ' h is longer than ' || $max_hours_per_entry
                         || ' h (max_hours_per_entry): correct it in the project system'
                WHEN t.day_over_limit AND t.day_decision = 'quarantine' AND t.day_decision_current
                    THEN 'person-day over ' || $max_hours_per_day || ' h quarantined by ' || t.day_decided_by
                         || ' at ' || t.day_decided_at || ': ' || t.day_decision_note
            END,
            billing_unknown_party_reason(t.client_id, t.canonical_client_id, $strict_clients, t.project_id,
                                         t.project_mapped, $strict_projects, 'entry'),
            CASE
                WHEN t.task_id IS NULL THEN 'unknown task (no task on the entry)'
                WHEN t.user_id IS NULL THEN 'unknown user (no person on the entry)'
                WHEN t.client_currency IS NULL OR NOT list_contains($currencies, t.client_currency)
                    THEN 'unknown currency ' || coalesce(t.client_currency, 'null')
                WHEN NOT list_contains($currencies, t.invoice_currency) OR NOT list_contains($currencies, t.rate_currency)
                    THEN 'unknown currency ' || t.invoice_currency || '/' || t.rate_currency
                WHEN t.non_billable_reason IS NULL AND t.unit_rate IS NULL
                    THEN 'missing rate: no rate card matches and the project system gave no rate'
                WHEN t.non_billable_reason IS NULL AND t.list_rate > CAST(list_extract($rate_limit_values,
                        list_position($rate_limit_currencies, t.rate_currency)) AS DECIMAL(18, 6))
                    THEN 'rate ' || CAST(t.list_rate AS VARCHAR) || ' ' || t.rate_currency || ' (' || t.rate_source
                         || ') is above the entity''s rate_limits (' || list_extract($rate_limit_values,
                         list_position($rate_limit_currencies, t.rate_currency)) || ' ' || t.rate_currency
                         || '): correct the rate in the project system, or raise rate_limits in the mapping'
            END) AS quarantine_reason
    FROM reasoned AS t
),
for_review AS (
    SELECT
        t.*,
        CASE WHEN t.day_over_limit AND NOT coalesce(t.day_decision = 'release' AND t.day_decision_current, false)
            THEN 'person-day over ' || $max_hours_per_day || ' h held for review: user ' || coalesce(t.user_id, '?')
                 || ' on '
                 || CAST(t.d AS VARCHAR) || ' has ' || CAST(t.person_day_hours AS VARCHAR) || ' h'
                 || CASE WHEN t.day_decision IS NOT NULL AND NOT t.day_decision_current
                         THEN ' (the ' || t.day_decision || ' by ' || t.day_decided_by || ' was for '
                              || CAST(t.day_decision_hours AS VARCHAR) || ' h)' ELSE '' END
                 || '; release or quarantine it: sync-pipeline hours decide'
        END AS review_reason
    FROM judged AS t
)
SELECT
    $entity AS entity,
    $period AS period,
    entry_id,
    CAST(d AS VARCHAR) AS spent_date,
    spent_date AS source_spent_date,
    coalesce(canonical_client_id, client_id) AS client_id,
    client_id AS source_client_id,
    coalesce(canonical_client_name, client_name) AS client_name,
    project_id,
    coalesce(mapped_project_name, project_name) AS project_name,
    task_id,
    coalesce(task_description, task_name) AS task_name,
    user_id,
    user_name,
    rate_currency AS currency,
    invoice_currency,
    CAST(hours AS DECIMAL(12, 6)) AS hours,
    CAST(unit_rate AS DECIMAL(18, 6)) AS rate,
    CAST(list_rate AS DECIMAL(18, 6)) AS list_rate,
    CAST(billable_percent AS DECIMAL(9, 4)) AS billable_percent,
    rate_source,
    approved_by,
    approved_at,
    CASE WHEN quarantine_reason IS NULL AND non_billable_reason IS NULL AND review_reason IS NOT NULL THEN 'held'
        ELSE billing_disposition(quarantine_reason, non_billable_reason, $require_approval, is_closed)
    END AS disposition,
    CASE WHEN quarantine_reason IS NULL AND non_billable_reason IS NULL AND review_reason IS NOT NULL
        THEN review_reason
        ELSE billing_disposition_reason(quarantine_reason, non_billable_reason, $require_approval, is_closed,
                                        approval_status)
    END AS reason
FROM for_review
