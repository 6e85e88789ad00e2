"""The one exception of a user's config mistake; the CLIs turn it into one line and exit 2."""


class ConfigError(ValueError):
    """A user mistake in a config file or a `--set` list; the message names the key."""
