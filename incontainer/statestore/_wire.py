"""The generated protobuf module, typed as Any for mypy.

The generated ``incontainer_pb2`` builds its classes at import time and has
no stub, so mypy finds none of its attributes.
"""

from typing import Any

from incontainer.wire import incontainer_pb2

pb: Any = incontainer_pb2
