"""Stand-in for Lambda's /var/runtime/bootstrap.py: run the handler in ``_HANDLER``.

Run as a script (``python bootstrap.py``), after the exec wrapper if there
is one, exactly where Lambda runs its bootstrap. Like Lambda's, it puts
``LAMBDA_TASK_ROOT`` first on the path and hands the handler name to the real
runtime client (awslambdaric), which polls the Runtime API at
``AWS_LAMBDA_RUNTIME_API``. It imports nothing from otel_xray.

SnapStart (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``): awslambdaric itself runs
the init, the before-snapshot hooks of ``snapshot_restore_py``, then
``GET /runtime/restore/next``, then the after-restore hooks (its
``bootstrap.on_init_complete``). On Lambda that GET returns in a sandbox restored
from the snapshot. Here the one thing replaced is that GET: the initialized process
stays as the snapshot, and each answer to its ``restore/next`` is a restore: the
snapshot forks a child, which returns into awslambdaric (the after-restore hooks, then
the invocation loop against the same Runtime API), while the snapshot asks for the
next restore. A fork copies memory as a restore does; what it does not do is in
docs/lambda-execution-models.md.
"""

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]
task_root = os.environ.get("LAMBDA_TASK_ROOT", "")
if task_root and task_root not in sys.path:
    sys.path.insert(0, task_root)

from awslambdaric import lambda_runtime_client  # noqa: E402
from awslambdaric.__main__ import main  # noqa: E402

RESTORE_NEXT = "/2018-06-01/runtime/restore/next"


def _restore_by_fork(client: lambda_runtime_client.BaseLambdaRuntimeClient) -> None:
    """Replaces ``restore_next``: serve restores by fork; return in each restored child."""
    import http.client  # noqa: PLC0415 (only a SnapStart function needs it; awslambdaric imports it lazily too)

    while True:
        connection = http.client.HTTPConnection(client.lambda_runtime_address)
        connection.request("GET", RESTORE_NEXT)
        response = connection.getresponse()
        body = response.read()
        connection.close()
        if response.status != 200:
            raise lambda_runtime_client.LambdaRuntimeClientError(
                RESTORE_NEXT, response.status, body
            )
        if os.fork() == 0:
            return  # the restored sandbox
        while True:  # the snapshot reaps restored sandboxes that have ended
            try:
                ended, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if ended == 0:
                break


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    lambda_runtime_client.BaseLambdaRuntimeClient.restore_next = _restore_by_fork

main([sys.argv[0], os.environ["_HANDLER"]])
