"""``python -m tinymeta.cli``: the ``tinymeta`` command without its console script."""

import sys

from tinymeta.cli import main

sys.exit(main())
