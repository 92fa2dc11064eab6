"""Use cases. Each owns its transaction; none imports Typer or Rich."""
