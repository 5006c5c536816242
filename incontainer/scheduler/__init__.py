"""Cost-based routing of workloads between WASM actors and gVisor nodes."""
