"""``python -m bench.explainers``."""

from bench.explainers.run import main

raise SystemExit(main())
