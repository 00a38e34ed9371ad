"""The one exception type for user mistakes.

The CLI turns a :class:`VstError` into a single line on stderr and a non-zero exit status,
without a traceback. Library code raises it for anything a user can fix (a missing file, a
number out of range, an unreadable video); genuine bugs stay ordinary exceptions.
"""


class VstError(Exception):
    """A problem with the user's input or environment; the message says what to do."""
