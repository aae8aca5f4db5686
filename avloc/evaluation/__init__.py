"""Protocol-exact evaluation: presets, typed samples, predictors (baselines and bounds), runners
and reports behind ``avloc evaluate``. See ``shared/reference/protocols.md`` for the protocols."""
