"""Tests of the broker in process: trio, the virtual clock, durability."""
