"""``python -m sandbox_kernel.jupyter --language python -f CONNECTION_FILE``: kernelspec argv."""

from sandbox_kernel.jupyter.app import SandboxKernelApp

if __name__ == "__main__":
    SandboxKernelApp.launch_instance()
