# sandbox-kernel doctor's probe: run by a Bash sandbox, it prints KEY=VALUE lines about what a
# sandboxed program sees (cgroup v1 and v2 paths both tried). Read by cli/doctor.py.
first() { for f in "$@"; do [ -r "$f" ] && { cat "$f"; return; }; done; echo '?'; }
echo "uid=$(id -u)"
echo "memory=$(first /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max)"
echo "swap=$(first /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes \
    /sys/fs/cgroup/memory.swap.max)"
echo "cpu_quota=$(first /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max)"
echo "cpu_period=$(first /sys/fs/cgroup/cpu/cpu.cfs_period_us)"
echo "pids=$(first /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max)"
echo "nproc=$(ulimit -u)"
echo "interfaces=$(ls /sys/class/net | tr '\n' ' ')"
if touch /.probe 2>/dev/null; then echo rootfs=writable; else echo rootfs=read-only; fi
echo "tmp=$(touch /tmp/.probe 2>/dev/null && echo writable || echo read-only)"
echo "caps=$(grep CapEff /proc/self/status | cut -f2)"
echo "no_new_privs=$(grep NoNewPrivs /proc/self/status | cut -f2)"
echo "pid1=$(tr '\0\n' '  ' < /proc/1/cmdline | cut -c1-40)"
echo "docker_socket=$([ -e /var/run/docker.sock ] && echo present || echo absent)"
echo "nofile=$(ulimit -n)"
echo "core=$(ulimit -c)"
echo "msgqueue=$(ulimit -q)"
echo "seccomp=$(awk '/^Seccomp:/ {print $2}' /proc/self/status)"
echo "userns=$(unshare -Ur true 2>/dev/null && echo allowed || echo refused)"
