"""The web console at ``/console``: HTML pages over the broker, no JavaScript framework."""
