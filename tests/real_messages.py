"""Reading the real pass's RuntimeError: its message, and the C++ check that raised it."""

from __future__ import annotations

# The start of each message the real pass raises, and the C++ function whose check it is
# (torch names it in "Exception raised from <function> at ..." when
# TORCH_SHOW_CPP_STACKTRACES=1; tests/test_torch_messages.py checks this table that way).
CPP_CHECKS: tuple[tuple[str, str], ...] = (
    ("branches for `if` should return values that are observed consistently", "insertObserversFor"),
    ("Inserting observers for user defined functions is not supported", "insertObserversFor"),
    ("Can't handle the access pattern of GetAttr  in getModuleAccessPath", "getModuleAccessPath"),
    ("We don't support quantizing methods that has Object as arguments", "remapTypes"),
    ("Expecting all values in the graph only configured with one observer", "getObserverFor"),
)

_STACK_TRACE = "\nException raised from "


def torch_message(error: BaseException) -> str:
    """The message torch raised, without the C++ stack trace it appends when
    ``TORCH_SHOW_CPP_STACKTRACES`` is set."""
    return str(error).split(_STACK_TRACE, 1)[0].rstrip()


def raised_from(error: BaseException) -> str | None:
    """The C++ function torch names in the stack trace it appends, if it did."""
    _, found, rest = str(error).partition(_STACK_TRACE)
    return rest.split(" ", 1)[0] if found else None


def cpp_check(message: str) -> str:
    """The C++ function whose check raised ``message``."""
    for start, function in CPP_CHECKS:
        if message.startswith(start):
            return function
    raise AssertionError(f"a failure of the real pass no test knows: {message[:200]!r}")
