"""lockstep: pin a model's environment, run its pipeline in it, and prove results reproduce."""

__version__ = "0.2.0"
