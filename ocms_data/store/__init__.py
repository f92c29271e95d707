"""The only code that talks to a database: a handle per unit of work (`Handle`), engines behind it."""
