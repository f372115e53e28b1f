"""Loading a packed model safely and scoring data with it.

``scoring`` (scan, load, conform the input to the signature, predict in batches, write the
output: ``predict``), ``server`` (``serve``: MLflow's scoring protocol over HTTP, an ASGI app on
starlette served by uvicorn, which only that command imports) and ``validator`` (``validate``: structure, integrity, environment and
safety checks, then scoring the input example through the same path).

May import: the spine, ``schema``, ``safety`` and ``package``. Never ``registry`` (a
``models:/`` URI is resolved to a folder before it reaches here), ``api``, ``cli`` or ``render``.
"""
