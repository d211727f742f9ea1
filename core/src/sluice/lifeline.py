"""What infrastructure and the engine agree on so that a flow run never outlives its agent.

Infrastructure that can (``process``) gives the engine the read end of a pipe whose write end only
the agent holds, and names it in ``LIFELINE_FD_VARIABLE``; when the agent dies, even by ``kill -9``,
the pipe closes and the engine's watchdog stops the flow (``sluice.watchdog``). Stopping a flow —
cancelled by the agent, or stopped by its engine — gives its processes ``KILL_GRACE_SECONDS``
between SIGTERM and SIGKILL. A module of constants only: the engine imports it at start-up, and
``sluice.infrastructure`` exposes them to plugins.
"""

from __future__ import annotations

#: Environment variable naming the engine's end of the lifeline pipe.
LIFELINE_FD_VARIABLE = "SLUICE__LIFELINE_FD"
#: Seconds a stopped flow run's processes get between SIGTERM and SIGKILL.
KILL_GRACE_SECONDS = 10.0
