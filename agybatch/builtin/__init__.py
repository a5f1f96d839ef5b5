"""Built-in plugins: ordinary plugin modules, registered by short name."""
