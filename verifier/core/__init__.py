"""Configuration and start-up of the verifier service: settings, embedded defaults, keys, logs."""
