"""Small composable parts optimizers are built from (optax-style)."""
