# sandbox-kernel one-shot wrapper, run as PID 1's child with
#   sh -c "<this file>" sh PROGRAM_PATH SITECUSTOMIZE PLOTS INTERPRETER [ARG...]
# It waits for "SIZE TOKEN DISPLAY_TOKEN MAX_MESSAGE\n" and SIZE bytes of program on stdin, saves
# them to PROGRAM_PATH and runs INTERPRETER [ARG...] PROGRAM_PATH with an empty stdin. When the
# program ends it writes one frame of the driver protocol (drivers/PROTOCOL.md), RS US TOKEN US
# SIZE US {"status":STATUS,"oom":OOM} LF, on stdout and on stderr: the run is over as soon as both
# arrive, without waiting for Docker to notice the exit. OOM is 1 when the cgroup's own count of
# OOM kills (v1 and v2) says the SIGKILL came from the OOM killer (Docker's flag is sometimes
# never set when several sandboxes run out at once). SITECUSTOMIZE, when not empty, is installed
# for Python (see whole_writes_site.py). PLOTS, when not empty, is the matplotlib backend
# (oneshot_plots.py) through which a Python program's plt.show() sends its figures as "display"
# frames carrying DISPLAY_TOKEN, each at most MAX_MESSAGE bytes (SANDBOX_KERNEL_DISPLAY tells it
# both); the program never sees TOKEN, so it cannot forge the exit markers. Both files are written
# before the program arrives, off its path. Only sh, head and printf are needed, so any image
# with the interpreter works, and the container can be started before the code is known (the
# warm pool).
# With "SIZE TOKEN DISPLAY_TOKEN MAX_MESSAGE keep", the container outlives the program until its
# stdin ends (the host closes the attach stream once the files it wrote were collected by an
# exec of tar): whatever the program left running is killed first (kill -1: every process of the
# sandbox user but this shell), so nothing changes the files while they are read. A container
# whose owner dies (stdin reaches end of file) stops by itself, and Docker removes it
# (AutoRemove): before the program is sent (read fails), while it runs (the watcher below) and
# while its files wait to be collected.
program=$1 site=$2 plots=$3
shift 3
if [ -n "$site" ]; then
    mkdir -p /tmp/.sandbox-site && printf '%s' "$site" > /tmp/.sandbox-site/sitecustomize.py
    export PYTHONPATH=/tmp/.sandbox-site
fi
if [ -n "$plots" ]; then
    mkdir -p /tmp/.sandbox-plots &&
        printf '%s' "$plots" > /tmp/.sandbox-plots/_sandbox_kernel_plots.py
    export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/tmp/.sandbox-plots"
    # Only in place of the headless default (the images set Agg): an image's own choice stays.
    case ${MPLBACKEND:-agg} in [Aa]gg) export MPLBACKEND=module://_sandbox_kernel_plots ;; esac
fi
read -r size token display max keep && head -c "$size" > "$program" && {
    if [ -n "$plots" ]; then export SANDBOX_KERNEL_DISPLAY="$display $max"; fi
    # The owner's attach connection closing (its process died) ends stdin (StdinOnce): a watcher
    # then kills every process of the sandbox, this shell included, so the container stops by
    # itself even while the program runs (drivers/PROTOCOL.md, "Start").
    exec 3<&0
    { while read -r _; do :; done; kill -KILL -1; } <&3 >/dev/null 2>&1 &
    exec 3<&-
    "$@" "$program" </dev/null
    status=$?
    oom=0
    if [ "$status" = 137 ]; then
        for f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do
            [ -r "$f" ] && while read -r key value; do
                [ "$key" = oom_kill ] && [ "$value" != 0 ] && oom=1
            done < "$f"
        done
    fi
    body='{"status":'$status',"oom":'$oom'}'
    printf '\036\037%s\037%d\037%s\n' "$token" "${#body}" "$body"
    printf '\036\037%s\037%d\037%s\n' "$token" "${#body}" "$body" >&2
    if [ "$keep" = keep ]; then
        kill -KILL -1 2>/dev/null
        kill -KILL -1 2>/dev/null
        # The watcher is gone with the rest: this shell now waits for the end of stdin itself
        # (the host closes the attach stream when it is done, or the owner died).
        while read -r _; do :; done
    fi
    exit "$status"
}
