"""Tests through the clients users have: the official SDKs (Python, Node.js), the
OpenAPI SDK, mnscmd, mock_mns and the pytest plugin."""
