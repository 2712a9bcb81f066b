"""``python -m bench.logger``."""

from bench.logger.run import main

raise SystemExit(main())
