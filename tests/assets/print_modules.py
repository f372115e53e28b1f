"""Run the modelpack CLI with the given argv, then print which modules got imported.

Two lines on stderr: ``HEAVY:`` the heavy libraries among them, ``MODULES:`` every module.
"""

import contextlib
import runpy
import sys

HEAVY = (
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
    "pyarrow",
    "jsonschema",
    "cloudpickle",
    "skops",
    "joblib",
    "boto3",
    "botocore",
)

sys.argv = ["modelpack", *sys.argv[1:]]
with contextlib.suppress(SystemExit):
    runpy.run_module("modelpack", run_name="__main__")
print("HEAVY:" + ",".join(m for m in HEAVY if m in sys.modules), file=sys.stderr)
print("MODULES:" + ",".join(sorted(sys.modules)), file=sys.stderr)
