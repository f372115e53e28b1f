"""Provenance: where a model came from, captured without flags at ``pack`` and ``register``.

``git`` (the commit, branch, dirty flag and remote of the repository a model file or the working
directory is in, by running the ``git`` executable), ``ci`` (the CI system, run and job, read
from an allowlist of named, non-secret variables of six CI systems) and ``record`` (the whole
provenance document: capture, ``--metric``/``--param``/``--training-data``, merging and the
shape every reader checks).

May import: the standard library, the spine and ``schema`` (only to infer the schema of a
``--training-data`` file, inside a function: that path alone loads pandas).
"""
