"""``python -m bench.soak``: the logger under steady load for minutes, then every acknowledged request looked up."""
