"""One module per ``pixity`` command; each has ``register(commands)`` adding its parser."""
