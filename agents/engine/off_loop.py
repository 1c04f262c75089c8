"""The gate's and the ledger's queries from an `async def` node: `off_the_loop`, defined in the
kernel (console/kernel/off_loop.py) so that the prompt library below the engine uses it too."""

from console.kernel.off_loop import off_the_loop

__all__ = ["off_the_loop"]
