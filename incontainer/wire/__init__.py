"""Generated protobuf messages of the ``incontainer.v1`` schema (incontainer_pb2)."""
