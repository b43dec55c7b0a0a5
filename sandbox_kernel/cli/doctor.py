"""``sandbox-kernel doctor``: is everything in place, and do the limits hold inside a sandbox?

It checks from the inside (what a sandboxed program sees), not just the configuration we send,
because that is what the security guarantees are about.
"""

from __future__ import annotations

import argparse
from typing import Any

from sandbox_kernel.config import load_config
from sandbox_kernel.engine.driver_files import driver_text
from sandbox_kernel.errors import SandboxError
from sandbox_kernel.limits import Limits


def probe_script() -> str:
    """``drivers/doctor_probe.sh``: printed by a Bash sandbox as KEY=VALUE lines."""
    return driver_text("doctor_probe.sh")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "doctor",
        help="check the daemon, runtimes, images and the limits inside a sandbox",
        description="Check the Docker daemon, the runtimes, the images, and the limits as a "
                    "sandboxed program sees them. Exits non-zero when something is wrong.",
    )
    parser.add_argument("--runtime", default=None,
                        help="Docker runtime to check with (default: $SANDBOX_KERNEL_RUNTIME "
                             "or the daemon's default)")
    parser.add_argument("--image", metavar="NAME",
                        help="also show this image's interpreter version (a flavour such as "
                             "python-minimal, or any image, e.g. one from `images build`)")
    parser.add_argument("--language", metavar="L",
                        help="the language of --image, for images sandbox-kernel did not build")
    parser.add_argument("--packages", action="store_true",
                        help="with --image: list its installed packages too")
    return parser


class Report:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []

    def add(self, check: str, value: object, ok: bool | None) -> None:
        status = "ok" if ok else ("warn" if ok is None else "FAIL")
        self.rows.append((check, str(value), status))

    @property
    def failed(self) -> bool:
        return any(status == "FAIL" for _, _, status in self.rows)

    def render(self) -> str:
        width = max(len(check) for check, _, _ in self.rows)
        lines = [f"{'check':<{width}}  {'status':<6}  value", "-" * (width + 30)]
        lines += [f"{check:<{width}}  {status:<6}  {value}" for check, value, status in self.rows]
        return "\n".join(lines)


def _expected_inside(limits: Limits, gvisor: bool) -> dict[str, tuple[str, bool | None]]:
    quota = int(limits.cpus * 100_000)
    return {
        "uid": ("65534", True),
        "memory": (str(limits.memory), None if gvisor else True),
        "swap": (str(limits.memory), None if gvisor else True),
        "cpu_quota": (str(quota), None if gvisor else True),
        "pids": (str(limits.pids), None if gvisor else True),
        # gVisor with --network=none shows no interface at all, not even lo.
        "interfaces": ("" if gvisor else "lo", True),
        "rootfs": ("read-only", True),
        "tmp": ("writable", True),
        "caps": ("0000000000000000", True),
        "no_new_privs": ("1", None if gvisor else True),
        "docker_socket": ("absent", True),
        "core": ("0", True),
        "msgqueue": ("0", True),
        # 2: a seccomp filter is in force (gVisor shows 0 when runsc ignores the OCI profile).
        "seccomp": ("2", True),
        "userns": ("refused", True),
    }


def _seccomp_rows(report: Report, runtime_args: dict[str, list[str]], in_use: str) -> None:
    """The profile every container names, and whether each gVisor runtime applies it."""
    from sandbox_kernel.engine.hardening import is_gvisor
    from sandbox_kernel.security import seccomp

    shipped = seccomp.profile()
    report.add("seccomp profile", f"sandbox-kernel sha256:{shipped.sha256[:16]}, based on "
               f"{shipped.upstream}", True)
    for name, args in sorted(runtime_args.items()):
        if not is_gvisor(name):
            continue
        if seccomp.gvisor_applies_seccomp(args):
            report.add(f"seccomp under {name}", "applied (--oci-seccomp), gVisor variant "
                       f"sha256:{seccomp.profile(gvisor=True).sha256[:16]}", True)
        else:
            report.add(f"seccomp under {name}", "NOT applied: add \"--oci-seccomp\" to its "
                       "runtimeArgs in daemon.json, then reload dockerd (kill -HUP)",
                       False if name == in_use else None)


def _probe(report: Report, runtime: str | None, limits: Limits) -> None:
    from sandbox_kernel.engine.hardening import is_gvisor
    from sandbox_kernel.engine.sandbox import DockerSandbox

    engine = DockerSandbox(limits, runtime=runtime, warm=False)
    result = engine.run("bash", probe_script(), timeout=30)
    if result.exit_code != 0:
        report.add("probe sandbox", result.describe_failure() + " " + result.stderr[-200:], False)
        return
    seen = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    expected = _expected_inside(limits, is_gvisor(runtime))
    for key, value in seen.items():
        want, strict = expected.get(key, (None, None))
        if want is None:
            report.add(f"inside: {key}", value, True)
            continue
        ok = value.strip() == want
        report.add(f"inside: {key}", value.strip() + ("" if ok else f" (want {want})"),
                   True if ok else (False if strict else None))


def run(args: argparse.Namespace) -> int:
    from sandbox_kernel.backends.docker.images import image_status
    from sandbox_kernel.engine.sandbox import DockerSandbox
    from sandbox_kernel.languages import LANGUAGES

    report = Report()
    runtime = args.runtime or load_config().runtime
    try:
        info = DockerSandbox(warm=False).describe()
    except SandboxError as exc:
        report.add("docker daemon", exc, False)
        print(report.render())
        return 1
    report.add("docker daemon", f"{info.get('version')} at {info.get('endpoint')}", True)
    runtimes = list(info.get("runtimes") or [])
    report.add("runtimes available", ", ".join(runtimes), True)
    report.add("gVisor (runsc)", "registered" if "runsc" in runtimes else
               "not registered: run `bash scripts/bootstrap.sh setup`", "runsc" in runtimes or None)
    in_use = runtime or info.get("default_runtime") or "runc"
    report.add("runtime in use", in_use, runtime is None or runtime in runtimes)
    _seccomp_rows(report, info.get("runtime_args") or {}, in_use)
    statuses = image_status()
    for name, language in LANGUAGES.items():
        status = statuses.get(name, "missing")
        hint = "" if status == "ok" else "  (run `sandbox-kernel images build`)"
        image = load_config().image_for(language)
        report.add(f"image {name}", f"{image}: {status}{hint}", status == "ok")
    if statuses.get("bash") == "ok" and (runtime is None or runtime in runtimes):
        try:
            _probe(report, runtime, Limits())
        except SandboxError as exc:
            report.add("probe sandbox", exc, False)
    packages: tuple[tuple[str, str], ...] = ()
    if args.image:
        packages = _inventory(report, args.image, args.language, runtime)
    print(report.render())
    if args.packages and packages:
        width = max(len(name) for name, _ in packages)
        print(f"\npackages in {args.image} ({len(packages)}):")
        print("\n".join(f"  {name:<{width}}  {version}" for name, version in packages))
    return 1 if report.failed else 0


def _inventory(report: Report, image: str, language: str | None,
               runtime: str | None) -> tuple[tuple[str, str], ...]:
    from sandbox_kernel.cli.inventory import take_inventory

    try:
        found = take_inventory(image, language, runtime)
    except (SandboxError, ValueError) as exc:
        report.add(f"contents of {image}", exc, False)
        return ()
    report.add(f"contents of {image}", f"{found.language}: {found.interpreter}, "
               f"{len(found.packages)} packages", True)
    return found.packages
