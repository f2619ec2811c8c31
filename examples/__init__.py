"""Examples shipped with weightsearch; a package so ``examples.plugin_model`` imports from the repository root."""
