"""Container actors and the sandboxes behind them (WASM and gVisor)."""
