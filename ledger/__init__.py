"""The ledger core: the fact store, appending, replay and the plugin host."""
