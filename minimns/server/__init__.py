"""The MNS-compatible HTTP server: h11 on trio, in front of the broker."""
