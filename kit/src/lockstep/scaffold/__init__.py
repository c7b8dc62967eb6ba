"""The `lockstep` command: new projects from the template, updates, and adopting DVC projects."""
