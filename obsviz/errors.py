"""Errors and warnings that obsviz raises, so users can catch and filter them."""

from __future__ import annotations


class ObsvizError(Exception):
    """Base class of every error obsviz raises on purpose.

    The message names the module path, method and value involved where there is one.
    """


class PassError(ObsvizError):
    """The real ``InsertObservers`` pass would fail on this input too.

    ``rule`` is the name of the C++ check that fails (e.g. ``insertObserversFor``), and
    ``cpp_message`` the message that check raises, word for word as torch prints it.
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str,
        module_path: str | None = None,
        method: str | None = None,
        value: str | None = None,
        details: dict | None = None,
        cpp_message: str = "",
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.module_path = module_path
        self.method = method
        self.value = value
        self.details = details or {}
        self.cpp_message = cpp_message


class PassFailure(PassError):
    """The pass failed; ``diagnosis`` says why and ``run`` holds the partial run.

    Everything that reads a :class:`~obsviz.Run` (tables, explanations, renderings)
    works on ``run``: it stops where the pass stopped.
    """

    def __init__(self, error: PassError, diagnosis: object, run: object) -> None:
        super().__init__(
            str(diagnosis),
            rule=error.rule,
            module_path=error.module_path,
            method=error.method,
            value=error.value,
            details=error.details,
            cpp_message=error.cpp_message,
        )
        self.diagnosis = diagnosis
        self.run = run


class ObsvizWarning(UserWarning):
    """Base class of every warning obsviz gives."""


class LoopWarning(ObsvizWarning):
    """A ``prim::Loop`` body holds values the pass never looks at."""


class FunctionWarning(ObsvizWarning):
    """A user-defined function holds quantizable ops the pass will not observe."""


class QConfigKeyWarning(ObsvizWarning):
    """A qconfig_dict key matches no submodule; the real pass ignores it silently."""
