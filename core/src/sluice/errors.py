"""Typed exceptions shared by every part of Sluice.

Each error carries a message that says what went wrong, where, and how to fix it. The CLI prints
``str(error)`` on one line and exits non-zero; the API turns them into 4xx answers.
"""

from __future__ import annotations


class SluiceError(Exception):
    """Base class of every error Sluice raises on purpose."""


class PluginError(SluiceError):
    """A plugin could not be loaded or registered something invalid."""


class DuplicateSlugError(PluginError, ValueError):
    """Two plugins registered a type under the same slug."""


class UnknownSlugError(PluginError, LookupError):
    """No installed plugin provides the requested slug."""


class APIUnavailable(SluiceError, ConnectionError):
    """The API could not be reached or cannot answer now (refused, timed out, 502/503/504/429): try again later."""


class ConfigurationError(SluiceError, ValueError):
    """A setting, a file or an argument is invalid."""


class UnsafeSymlinkError(ConfigurationError):
    """A folder to upload holds a symbolic link that would take the upload out of it (or nowhere)."""


class ObjectNotFound(SluiceError, LookupError):
    """An object that was asked for by name or id does not exist."""


class ObjectAlreadyExists(SluiceError, ValueError):
    """An object with the same unique name already exists."""


class PayloadTooLarge(SluiceError, ValueError):
    """A request, a run's parameters or a batch of log records is larger than the server accepts
    (the API answers 413); the message names the limit and the setting that raises it."""


class InfrastructureNotFound(SluiceError, LookupError):
    """The infrastructure a flow run was started on (process, container, Job) no longer exists."""


class InfrastructureNotAvailable(SluiceError, RuntimeError):
    """The infrastructure cannot be reached from here: another host, a missing image, no engine."""


class StorageError(SluiceError):
    """A storage block could not read or write its files: wrong credentials, a missing bucket, an
    unreachable host, a missing library. The message names the block type and its URL, never a secret."""


# -- flows, entrypoints and parameters (sluice.flows, sluice.parameters) ------------------------


class EntrypointError(SluiceError):
    """A flow entrypoint (``path/to/file.py:function`` or ``package.module:function``) cannot be loaded."""


class FlowFileNotFoundError(EntrypointError, FileNotFoundError):
    """The file or module named by an entrypoint does not exist."""


class FlowImportError(EntrypointError, ImportError):
    """The file or module named by an entrypoint raised an error (a syntax error included) on import."""


class FlowNotFoundError(EntrypointError, AttributeError):
    """The module named by an entrypoint has no attribute of that name."""


class NotAFlowError(EntrypointError, TypeError):
    """The object named by an entrypoint is not decorated with ``@flow``."""


class ParameterError(SluiceError, ValueError):
    """Flow parameters are invalid: unknown, missing or of the wrong type. The message names each one."""


class FlowTimeoutError(SluiceError, TimeoutError):
    """A flow ran longer than its ``timeout_seconds``."""


class FlowRunFailed(SluiceError, RuntimeError):
    """A flow run ended in a FAILED, CRASHED or CANCELLED state."""


class RunNotClaimable(SluiceError, RuntimeError):
    """The server refused to move a flow run to RUNNING: it was claimed or finished elsewhere."""


class RunNotStarted(SluiceError, RuntimeError):
    """A flow run could not be set RUNNING because the API did not answer in time: the flow did not run."""


class FlowRunStopped(BaseException):
    """The engine is stopping the flow from outside: its run ended elsewhere (CRASHED, CANCELLED,
    CANCELLING), its agent is gone, or it received SIGTERM.

    A ``BaseException``, like ``KeyboardInterrupt``, so that a flow's ``except Exception`` does not
    swallow it; the flow's ``finally`` blocks run. Whoever stopped the run reports its final state.
    """
