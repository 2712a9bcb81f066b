"""The one-command demo: an iris model, an example model server and the logger in front of it."""
