"""``@flow`` and ``Flow``: a Python function whose calls are recorded as flow runs, and loading a flow
from an entrypoint (``path/to/file.py:function`` or ``package.module:function``).

    from sluice import flow

    @flow(retries=2, timeout_seconds=60)
    def say_hi(name: str = "Marvin"):
        print(f"Hello {name}!")

    say_hi("Arthur")   # runs it and records a flow run with its states and logs
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable
from functools import update_wrapper
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar, overload

from sluice.errors import (
    ConfigurationError,
    EntrypointError,
    FlowFileNotFoundError,
    FlowImportError,
    FlowNotFoundError,
    NotAFlowError,
)
from sluice.parameters import docstring_summary, parameter_schema, validate_parameters

P = ParamSpec("P")
R = TypeVar("R")


class Flow(Generic[P, R]):
    """A function decorated with ``@flow``: calling it runs it as a recorded flow run.

    The run goes through PENDING → RUNNING → COMPLETED or FAILED on the API (AwaitingRetry between
    retries); a flow called inside another flow is a subflow run linked to its parent.
    """

    def __init__(
        self,
        fn: Callable[P, R],
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        retries: int = 0,
        retry_delay_seconds: float = 0,
        timeout_seconds: float | None = None,
        validate_parameters: bool = True,
        task_runner: Any = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@flow needs a function, got {fn!r}")
        self.fn = fn
        self.is_async = inspect.iscoroutinefunction(fn)
        self.name = name or fn.__name__.replace("_", "-")
        if "/" in self.name or not self.name.strip():
            raise ConfigurationError(f"invalid flow name {self.name!r}: it must be non-empty and contain no '/'")
        self.description = description if description is not None else docstring_summary(fn.__doc__)
        self.version = version
        if retries < 0 or retry_delay_seconds < 0:
            raise ConfigurationError(f"flow {self.name!r}: retries and retry_delay_seconds must not be negative")
        if timeout_seconds is not None and timeout_seconds <= 0:
            raise ConfigurationError(f"flow {self.name!r}: timeout_seconds must be positive")
        self.retries = retries
        self.retry_delay_seconds = retry_delay_seconds
        self.timeout_seconds = timeout_seconds
        self.should_validate_parameters = validate_parameters
        self.task_runner = _check_task_runner(self.name, task_runner)
        update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the flow: record a flow run (a subflow run inside another flow) and return its result.

        Raises the flow's exception when the run ends FAILED (after its retries). An async flow
        returns a coroutine to await (``asyncio.run(my_flow())``), as in Prefect 2, except when
        called as a subflow from synchronous code, where it runs to completion and returns its result.
        """
        from sluice.runner import run_flow, run_flow_async

        if self.is_async:
            from sluice.tasks import caller_is_async, run_coroutine_blocking

            coroutine = run_flow_async(self, args, kwargs)
            if caller_is_async():
                return coroutine  # type: ignore[return-value]
            return run_coroutine_blocking(coroutine)
        return run_flow(self, args, kwargs)

    def __repr__(self) -> str:
        return f"Flow(name={self.name!r}, fn={getattr(self.fn, '__qualname__', self.fn)!r})"

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON schema of the flow's parameters (``parameter_openapi_schema`` of a deployment)."""
        return parameter_schema(self.fn)

    def validate_parameters(self, values: dict[str, Any]) -> dict[str, Any]:
        """Check and coerce ``values`` against the signature; raises ``ParameterError`` naming the culprits."""
        return validate_parameters(self.fn, values)

    def with_options(self, **options: Any) -> Flow[P, R]:
        """A copy of the flow with some options changed (``name``, ``retries``, ``timeout_seconds``…)."""
        current = {
            "name": self.name,
            "description": self.description,
            "version": self.version,
            "retries": self.retries,
            "retry_delay_seconds": self.retry_delay_seconds,
            "timeout_seconds": self.timeout_seconds,
            "validate_parameters": self.should_validate_parameters,
            "task_runner": self.task_runner,
        }
        unknown = set(options) - set(current)
        if unknown:
            raise TypeError(f"with_options: unknown option(s) {', '.join(sorted(unknown))}")
        return Flow(self.fn, **{**current, **options})


@overload
def flow(fn: Callable[P, R]) -> Flow[P, R]: ...


@overload
def flow(
    *,
    name: str | None = None,
    description: str | None = None,
    version: str | None = None,
    retries: int = 0,
    retry_delay_seconds: float = 0,
    timeout_seconds: float | None = None,
    validate_parameters: bool = True,
    task_runner: Any = None,
) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Turn a function into a ``Flow``; usable bare (``@flow``) or with options (``@flow(retries=2)``).

    Options: ``name`` (default: the function name with ``_`` → ``-``), ``description`` (default: the
    docstring's summary), ``version``, ``retries``, ``retry_delay_seconds``, ``timeout_seconds``,
    ``validate_parameters`` (default True: parameters are checked and coerced before the body runs)
    and ``task_runner`` (where submitted tasks run: a ``sluice.task_runners.TaskRunner``, its class,
    or a runner's slug such as ``"threads"`` or ``"dask"``; default: a thread pool). The function may
    be ``async def``.
    """
    if fn is None:
        return lambda function: Flow(function, **options)
    return Flow(fn, **options)


def _check_task_runner(flow_name: str, task_runner: Any) -> Any:
    """``task_runner`` if ``@flow`` can use it (a slug is looked up when the flow runs)."""
    if task_runner is None or isinstance(task_runner, str):
        return task_runner
    from sluice.task_runners import TaskRunner

    if isinstance(task_runner, TaskRunner) or (isinstance(task_runner, type) and issubclass(task_runner, TaskRunner)):
        return task_runner
    raise ConfigurationError(
        f"flow {flow_name!r}: task_runner must be a TaskRunner (e.g. ThreadPoolTaskRunner()), its class, or a "
        f"runner's slug (e.g. 'threads'), not {task_runner!r}"
    )


# -- entrypoints ------------------------------------------------------------------------------------

#: Modules imported from flow files by path (``_import_file``): no other process can import them by name.
_flow_file_modules: set[str] = set()


def flow_file_modules() -> set[str]:
    """The names of the modules Sluice imported from flow files by path (remote task runners ship them)."""
    return set(_flow_file_modules)


def split_entrypoint(entrypoint: str) -> tuple[str, str]:
    """``"flows/marvin.py:say_hi"`` → ``("flows/marvin.py", "say_hi")``; a malformed one raises ``EntrypointError``."""
    target, sep, name = entrypoint.strip().rpartition(":")
    if not sep or not target or not name.isidentifier():
        raise EntrypointError(
            f"invalid entrypoint {entrypoint!r}: use 'path/to/file.py:function' or 'package.module:function'"
        )
    return target, name


def is_file_entrypoint(target: str) -> bool:
    """True for ``path/to/file.py``, False for ``package.module``."""
    return target.endswith(".py") or "/" in target or "\\" in target


def file_md5(path: str | Path) -> str:
    """The md5 hex digest of a file (the default version of a deployment built from it)."""
    return hashlib.md5(Path(path).read_bytes(), usedforsecurity=False).hexdigest()


def load_flow_from_entrypoint(entrypoint: str, base_path: str | Path | None = None) -> Flow[..., Any]:
    """Import the entrypoint and return its flow.

    A file path is relative to ``base_path`` (default: the current folder). Each failure has its own
    error: a missing file or module (``FlowFileNotFoundError``), an import that raises, a syntax error
    included (``FlowImportError``, naming the file and line), a missing function (``FlowNotFoundError``)
    and an object that is not a flow (``NotAFlowError``).
    """
    target, name = split_entrypoint(entrypoint)
    if is_file_entrypoint(target):
        path = Path(base_path or ".") / target
        module, where = _import_file(path, target), target
    else:
        module, where = _import_module(target), target
    if not hasattr(module, name):
        flows = sorted(key for key, value in vars(module).items() if isinstance(value, Flow))
        found = f" (flows there: {', '.join(flows)})" if flows else " (it defines no flow)"
        raise FlowNotFoundError(f"no function {name!r} in {where}{found}")
    obj = getattr(module, name)
    if not isinstance(obj, Flow):
        kind = "a function" if inspect.isfunction(obj) else f"a {type(obj).__name__}"
        hint = "decorate it with @flow (from sluice import flow)"
        if type(obj).__module__.startswith("prefect"):
            hint = "it is a Prefect flow: import flow from sluice instead (from sluice import flow)"
        raise NotAFlowError(f"{name!r} in {where} is {kind}, not a flow: {hint}")
    return obj


def _module_name_for(path: Path) -> str:
    digest = hashlib.md5(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    stem = "".join(ch if ch.isalnum() else "_" for ch in path.stem)
    return f"__sluice_flow_{stem}_{digest}"


def _import_file(path: Path, shown: str) -> Any:
    if not path.is_file():
        where = "" if Path(shown).is_absolute() else f" (in {path.parent.resolve()})"
        raise FlowFileNotFoundError(f"flow file {shown!r} does not exist{where}")
    resolved = path.resolve()
    module_name = _module_name_for(resolved)
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise FlowImportError(f"cannot import {shown}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    # the flow's folder goes first on sys.path so that it can import its sibling modules
    sys.path.insert(0, str(resolved.parent))
    sys.modules[module_name] = module
    _flow_file_modules.add(module_name)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        sys.modules.pop(module_name, None)
        raise _import_error(Path(shown), resolved, exc) from None
    finally:
        try:
            sys.path.remove(str(resolved.parent))
        except ValueError:
            pass
    return module


def _import_module(target: str) -> Any:
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        if exc.name and (target == exc.name or target.startswith(exc.name + ".")):
            raise FlowFileNotFoundError(f"module {target!r} cannot be found (is it installed?)") from None
        raise _import_error(Path(target), None, exc) from None
    except SyntaxError as exc:
        raise _import_error(Path(exc.filename or target), None, exc) from None
    except Exception as exc:
        raise _import_error(Path(target), None, exc) from None


def _import_error(shown: Path, resolved: Path | None, exc: BaseException) -> FlowImportError:
    """One line saying which file and line failed, and why."""
    if isinstance(exc, SyntaxError):
        line = f", line {exc.lineno}" if exc.lineno else ""
        return FlowImportError(f"syntax error in {shown}{line}: {exc.msg}")
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "prefect":
        return FlowImportError(
            f"{shown} imports {exc.name!r}, which is not installed: Sluice runs flows written with "
            "'from sluice import flow'; replace the Prefect imports"
        )
    line = ""
    if resolved is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == resolved]
        if frames:
            line = f", line {frames[-1].lineno}"
    return FlowImportError(f"importing {shown} failed{line}: {type(exc).__name__}: {exc}")
