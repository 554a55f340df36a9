"""Tests of the pure core: state machines and rules, driven with explicit `now`."""
