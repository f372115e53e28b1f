"""The MLmodel folder: what ``pack`` writes and ``inspect`` and ``diff`` read.

``mlmodel`` (the MLmodel document), ``manifest`` (the integrity manifest), ``environment`` and
``requirements`` (conda/virtualenv files and pins), ``example`` (the input example),
``flavors/`` (how each flavor saves and loads a model), ``card`` (the model card, README.md),
``model_source`` (loading the model a user hands to ``pack``), ``packer`` (``pack``),
``inspector`` (``inspect``), ``differ`` (``diff`` of two folders) and ``pyfunc`` (MLflow's
entry point for the generic flavor).

May import: the spine, ``modelpack.schema`` and ``modelpack.safety`` (a model is loaded only
after its scan). Never ``registry``, ``serving``, ``api``, ``cli`` or ``render``.
"""
