"""Run the modelpack CLI with the given argv, then print which heavy modules got imported."""

import contextlib
import runpy
import sys

HEAVY = ("numpy", "pandas", "scipy", "sklearn", "pyarrow", "jsonschema", "cloudpickle", "skops", "joblib")

sys.argv = ["modelpack", *sys.argv[1:]]
with contextlib.suppress(SystemExit):
    runpy.run_module("modelpack", run_name="__main__")
print("HEAVY:" + ",".join(m for m in HEAVY if m in sys.modules), file=sys.stderr)
