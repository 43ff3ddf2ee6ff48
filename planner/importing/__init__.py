"""Importers: files in the exchange formats (DESIGN §7) into the store, all or nothing."""
