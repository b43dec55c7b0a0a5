"""``python -m sandbox_kernel.kernel --language python -f CONNECTION_FILE``: the kernelspec argv."""

from sandbox_kernel.kernel.app import SandboxKernelApp

if __name__ == "__main__":
    SandboxKernelApp.launch_instance()
