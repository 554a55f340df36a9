"""The developer endpoints under ``/_minimns/``: JSON for test suites, tools and the console."""
