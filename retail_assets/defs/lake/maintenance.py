import dagster as dg
import polars as pl

from retail_assets.defs.asset_keys import FEATURES, GOLD, MAINTENANCE, RAW, SILVER
from retail_assets.lake.maintenance import DEFAULT_RETENTION_HOURS, maintain
from retail_assets.reporting import markdown_table
from retail_model.lake import Lake


class MaintenanceConfig(dg.Config):
    retention_hours: int = DEFAULT_RETENTION_HOURS  # replaced files younger than this stay, for readers of recent versions


@dg.asset(
    key=MAINTENANCE,
    deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in (RAW, SILVER, GOLD)] + [FEATURES],
    kinds={"deltalake"},
    group_name="lake",
)
def lake_maintenance(context: dg.AssetExecutionContext, config: MaintenanceConfig, lake: dg.ResourceParam[Lake]) -> dg.MaterializeResult:
    """Compacts the lake tables' small files and vacuums replaced ones, keeping every version a model was trained on."""
    done = maintain(lake, config.retention_hours)
    figures = pl.DataFrame([{**m.__dict__, "kept_versions": ", ".join(map(str, m.kept_versions))} for m in done])
    context.log.info(f"maintained {len(done)} tables: {sum(m.files_vacuumed for m in done)} files vacuumed")
    return dg.MaterializeResult(
        metadata={
            "tables": dg.MetadataValue.md(markdown_table(figures)),
            "files_before": sum(m.files_before for m in done),
            "files_after": sum(m.files_after for m in done),
            "files_vacuumed": sum(m.files_vacuumed for m in done),
            "retention_hours": config.retention_hours,
            "versions_kept_for_models": dg.MetadataValue.json({m.table: list(m.kept_versions) for m in done if m.kept_versions}),
        }
    )


lake_maintenance_job = dg.define_asset_job("lake_maintenance_job", selection=[MAINTENANCE], description="Compact and vacuum the lake.")

weekly_lake_maintenance = dg.ScheduleDefinition(
    name="weekly_lake_maintenance",
    job=lake_maintenance_job,
    cron_schedule="0 3 * * 0",  # Sundays 03:00 UTC: a day before the weekly rebuild, away from landings
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Compacts small files and vacuums replaced ones (retention 7 days; model training versions kept).",
)
