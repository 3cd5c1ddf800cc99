"""Every 15 minutes, ``slo_job`` for each registered entity (off by default; the alerts sensor does not need it)."""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, schedule

from sync_pipeline.defs.monitoring.jobs import slo_job


@schedule(job=slo_job, cron_schedule="*/15 * * * *", default_status=DefaultScheduleStatus.STOPPED,
          description="Record every entity's SLO checks every 15 minutes (history on slo_status's Checks tab).")
def slo_every_15_minutes(context: ScheduleEvaluationContext) -> list[RunRequest]:
    return [RunRequest(partition_key=e, tags={"sync_pipeline/slo": "1"})
            for e in sorted(context.instance.get_dynamic_partitions("entity"))]
