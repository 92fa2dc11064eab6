"""SQL for one table family each. Functions take `session`/`conn` keyword-only and never commit."""
