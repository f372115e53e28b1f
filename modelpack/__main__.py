"""``python -m modelpack``."""

import sys
from pathlib import Path

# ``python -m`` puts the working directory first on sys.path. Nothing in it may shadow the
# libraries that loading a model imports (a package folder holding its own ``sklearn/`` would
# otherwise run on ``validate .``), so it goes; modelpack itself is already imported.
if sys.path and Path(sys.path[0] or ".").resolve() == Path.cwd().resolve():
    del sys.path[0]

from modelpack.cli import main  # noqa: E402

main()
