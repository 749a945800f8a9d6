"""Folds the built-in views are made of, for any view to build on (exported by ``ledger.plugin``)."""
