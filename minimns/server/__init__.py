"""The MNS-compatible HTTP server on trio, in front of the broker, laid out by surface.

- ``http_parser.py`` / ``http.py``: HTTP/1.1 framing (httptools) and connections;
- ``app.py``: ``MNSApp``, one ``Request -> Response`` seam that picks the surface;
- ``mns/``: the MNS REST API; ``rpc/``: the SMS API and the management OpenAPI;
- ``dev/``: the developer endpoints; ``console/``: the web console;
- ``access.py`` (who may use dev and console), ``params.py`` (integers from text),
  ``json_response.py``, ``metrics.py``, ``serve.py`` (the listener and its options).
"""
