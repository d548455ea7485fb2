"""Probabilistic record matching (Fellegi-Sunter), pure: comparisons, blocking keys, the model, its
estimation by expectation-maximisation, and the streaming decision. Storage lives in
operational/match_store.py."""
