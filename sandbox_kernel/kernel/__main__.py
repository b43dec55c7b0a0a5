"""``python -m sandbox_kernel.kernel``: the argv of kernelspecs installed before 0.2."""

from sandbox_kernel.jupyter.app import SandboxKernelApp

if __name__ == "__main__":
    SandboxKernelApp.launch_instance()
