"""The one exception type that entry points turn into a single line on stderr."""


class CharRNNError(Exception):
    """A problem with the user's input, flags or files, explained in one line."""
