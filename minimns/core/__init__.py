"""The pure core: queue state and MNS rules, synchronous, no I/O, no trio.

Every operation takes ``now`` (epoch milliseconds) and is deterministic given
its inputs, so a journal can replay it and a property test can drive it.
"""
