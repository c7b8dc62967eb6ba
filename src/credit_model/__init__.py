"""The example project: a credit-default model built with the lockstep kit."""
