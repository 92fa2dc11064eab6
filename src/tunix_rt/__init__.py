"""tunix-rt: collect, validate and curate LLM reasoning traces for Tunix fine-tuning.

The package is layered cli -> services -> repositories -> db. Importing this package is
deliberately free of side effects and heavy imports so that `tunix-rt --help` stays fast.
"""

__version__ = "0.1.0"
