"""Real peer model servers for tests: Seldon Core's Python wrapper (Seldon v1) and MLServer (V2).

Each runs from its own cached venv (``venvs``), serves a scikit-learn iris model trained inside that
venv (``iris``), and is started on free 127.0.0.1 ports and stopped by process group (``process``).
"""
