"""The WASM sandbox: WASI modules in wasmtime, one worker process each."""

from incontainer.actors.wasm.runtime import TOOLS_DIR
from incontainer.actors.wasm.sandbox import DEFAULT_OUTPUT_CAP_BYTES, WasmSandbox

__all__ = ["DEFAULT_OUTPUT_CAP_BYTES", "TOOLS_DIR", "WasmSandbox"]
