import dagster as dg

from retail_assets.resources import LakeResource, LocalTrainingLauncher, ModelRegistryResource, PromotionGate
from retail_assets.settings import get_environment, lake_root


@dg.definitions
def resources() -> dg.Definitions:
    settings = get_environment()
    root = str(lake_root(settings))
    return dg.Definitions(
        resources={
            "lake": LakeResource(root=root),
            "trainer": LocalTrainingLauncher(),
            "model_registry": ModelRegistryResource(lake_root=root),
            "promotion_gate": PromotionGate(min_macro_f1=settings.min_macro_f1, auto_approve=settings.auto_approve),
        }
    )
