"""Errors the stack reports to a user as a message, not a traceback."""


class StackError(Exception):
    """An expected problem (port in use, missing tool, service died): the CLI prints it and exits non-zero."""
