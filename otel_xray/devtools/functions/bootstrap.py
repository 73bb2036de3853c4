"""Stand-in for Lambda's /var/runtime/bootstrap.py: run the handler in ``_HANDLER``.

Run as a script (``python bootstrap.py``), after the exec wrapper if there
is one, exactly where Lambda runs its bootstrap. Like Lambda's, it puts
``LAMBDA_TASK_ROOT`` first on the path and hands the handler name to the real
runtime client (awslambdaric), which polls the Runtime API at
``AWS_LAMBDA_RUNTIME_API``. It imports nothing from otel_xray.
"""

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]
task_root = os.environ.get("LAMBDA_TASK_ROOT", "")
if task_root and task_root not in sys.path:
    sys.path.insert(0, task_root)

from awslambdaric.__main__ import main  # noqa: E402

main([sys.argv[0], os.environ["_HANDLER"]])
