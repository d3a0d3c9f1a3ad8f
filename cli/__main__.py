"""``python -m dgx_pixels.cli``: the same as the ``dgx-pixels`` console script."""

import sys

from .main import main

sys.exit(main())
