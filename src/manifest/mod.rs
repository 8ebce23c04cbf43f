//! Reads `apps.yaml` and validates it into a `Desired` (being written).
