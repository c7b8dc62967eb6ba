"""One module per DVC stage: a pure `run(...)` and a thin `main(argv)` that dvc.yaml calls."""
