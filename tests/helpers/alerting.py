"""A small asset whose check fails on demand, for the alert-forwarding tests."""

import dagster as dg

from retail_assets.alerts.forwarding import DagsterLinks

LINKS = DagsterLinks("http://dagster.example:3000")


class Outcome(dg.Config):
    passed: bool = True
    crash: bool = False


def orders_asset(name: str) -> dg.AssetsDefinition:
    """An asset whose check `orders_have_rows` passes or fails as the run config says."""

    @dg.asset(name=name, check_specs=[dg.AssetCheckSpec("orders_have_rows", asset=name)])
    def orders(config: Outcome) -> dg.MaterializeResult:
        if config.crash:
            raise RuntimeError("the source database refused the connection")
        return dg.MaterializeResult(
            check_results=[dg.AssetCheckResult(passed=config.passed, description="row count checked", metadata={"rows": 0 if not config.passed else 10})]
        )

    return orders
