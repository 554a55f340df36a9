"""Tests of the HTTP edge: the wire, the REST and RPC surfaces, the console, load."""
