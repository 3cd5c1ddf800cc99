"""The retention purge on the 3rd of each month (after the monthly close on the 2nd)."""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from sync_pipeline.defs.privacy.jobs import retention_purge_job


@schedule(
    cron_schedule="0 4 3 * *",
    execution_timezone="UTC",
    job=retention_purge_job,
    default_status=DefaultScheduleStatus.STOPPED,
    description="On the 3rd of each month at 04:00 UTC: delete or anonymize what is past retention (legal holds, "
                "tax retention and open documents are never touched). Start it once the retention file is yours; "
                "`sync-pipeline privacy purge --dry-run` shows what it would do.",
)
def retention_purge_monthly(context: ScheduleEvaluationContext):
    return RunRequest(run_key=f"retention_purge:{context.scheduled_execution_time.date().isoformat()}")
