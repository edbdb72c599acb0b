"""What operators watch: Prometheus metrics (`metrics`), OpenTelemetry traces (`tracing`)
and JSON log lines (`logs`). The bottom of the layers: every part of the hub may record
here, and nothing here knows the hub."""
