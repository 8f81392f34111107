"""Reading Sentry's data (error counts per release); reporting Fireline's own errors is bot.observability."""
