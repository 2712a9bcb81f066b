"""``python -m bench.kafka_clients``."""

from bench.kafka_clients.run import main

raise SystemExit(main())
