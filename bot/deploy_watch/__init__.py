"""Deploy watch: judge a new release from Sentry, HEALTH_URL and Fly for a window (bot.deploy_watch.feature)."""
