"""The example's kit settings: its image, its params schema, and its refresh section."""

from pathlib import Path

from lockstep import config
from lockstep.refresh import decision
from lockstep.runtime import params

ROOT = Path(__file__).resolve().parents[3]


def test_the_example_names_its_image_schema_and_refresh_settings():
    settings = config.load(ROOT)
    assert settings.image == "credit-model"
    assert settings.params == "credit_model.params"
    assert settings.refresh.missing() == []
    assert settings.refresh.keys == ("application_id", "month")


def test_the_example_params_hold_a_valid_refresh_section():
    rule = params.load(ROOT / "params.yaml", "refresh", decision.Decision)
    assert rule.bootstrap >= 100
