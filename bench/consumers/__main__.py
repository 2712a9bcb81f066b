"""``python -m bench.consumers``."""

from bench.consumers.run import main

raise SystemExit(main())
