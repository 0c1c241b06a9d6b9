"""bench: the denoise-bench application (command line, config, sweep, results store, reports, regression gate)."""
