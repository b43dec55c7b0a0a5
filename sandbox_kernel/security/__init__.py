"""What the kernel lets a sandbox do: our seccomp profile and the paths we mask (see README,
Security)."""
