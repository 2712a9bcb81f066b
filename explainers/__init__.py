"""Explainer server: alibi explanations of deployed models, and the black-box model client."""
