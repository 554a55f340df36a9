"""The trio layer: owns the core state, parks long polls, runs the one timer."""
