# sandbox-kernel session driver for Bash (drivers/PROTOCOL.md, version 2), run as
# `bash -c SOURCE bash NONCE`. Two processes, so that nothing of the driver lives in the user's
# shell:
#
# * this one, the supervisor, owns the control channel (requests on the container's stdin through
#   the reader process below, frames on its stdout and stderr), the input server, the peak-memory
#   read and the receipt (`ack`) of each cell;
# * the user shell, a child `bash --norc --noprofile /dev/stdin` started as a coprocess: it reads
#   its commands from a pipe that only the supervisor writes (on descriptor 255, close-on-exec:
#   bash's own place for a script), and its stdout and stderr, the "event pipe", go to the
#   supervisor, never to the user. Its variables, functions, aliases, options and traps are the
#   user's; what it prints between cells (the echo of `set -v`, the trace of `set -x`) is read
#   and dropped here.
#
# A cell is written to /dev/shm/bash and the user shell gets three lines (the runner). With the
# glue of the bash image (recipes/bash/sandbox_kernel_glue.c, a loadable builtin the user shell
# loads first; it hides the SIGINT trap it sets from `trap -p`, and drops the script's frame):
#   \builtin set +exv; \builtin source --sandbox-kernel-cell /dev/shm/bash STATUS -FLAGS IN /proc/SUP/fd/OUT /proc/SUP/fd/ERR /proc/SUP/fd/EVENTS [ANSWERS NOTIFY]
#   (( RS SEQ US $? US $- US ${PWD+${PWD@Q}} US ... RS )) 2>/proc/SUP/fd/EVENTS || ((1))
#   \exec </dev/null >/proc/SUP/fd/EVENTS 2>&1
# The glue runs the file as bash runs a script read from stdin (messages `bash: line N:` from
# the cell's first line, one `+` in traces, no frame, `$?` and the options e, v, x put back),
# empties it (the proof that it ran), and on SIGINT ends the cell from bash's own top level. It
# opens the cell's stdin and the container's stdout and stderr (paths, so a cell that closes
# descriptors cannot take them away) on 0, 1 and 2, and /dev/null and EVENTS again when the cell
# ends (`exec >/dev/null` silences its own cell only). The second line is the marker
# (__sk_marker): its error message tells the supervisor the cell's end, status, options and
# directories. The third puts back the shell's own descriptors if the cell closed the saved
# copies.
#
# Without the glue (an image of the operator's own), the runner is written in bash (__sk_cell):
# `source bash` from /dev/shm, with a prefix on the cell's first line that puts back the
# directory, OLDPWD, posix mode and options; a SIGINT trap, visible in `trap -p`, sets a DEBUG
# trap that returns 130 from the sourced cell and every function (hence `set -T`). PROTOCOL.md
# lists what each runner shows. A cell that redefines `builtin`, disables `source`, or sets
# `ulimit -n` too low for the runner's redirections leaves the runner unable to run the next
# cell: that cell fails with an error naming these causes and the sandbox is replaced, never a
# false success.
#
# The protocol uses builtins only: a cell can leave an environment that no external program could
# start with (E2BIG).
__sk_nonce=$1 __sk_max=${2:-4194304}   # the host's message cap, in bytes (PROTOCOL.md)
[[ $__sk_max =~ ^[0-9]+$ ]] || __sk_max=4194304
exec {__sk_out}>&1 {__sk_err}>&2
set --
trap ':' PIPE   # a handler, not SIG_IGN (inherited): writing to a closed pipe fails, no more
__sk_peak() {  # __sk_peakv: the cgroup's peak memory in bytes, or null
  local f v
  __sk_peakv=null
  for f in /sys/fs/cgroup/memory/memory.max_usage_in_bytes /sys/fs/cgroup/memory.peak; do
    if [[ -r $f ]] && builtin read -r v < "$f"; then __sk_peakv=$v; return; fi
  done
}
# One frame: RS US NONCE US SIZE US JSON LF (SIZE in bytes, hence the C locale).
__sk_send() {
  local LC_ALL=C
  local fd=$__sk_out
  [[ $1 == 2 ]] && fd=$__sk_err
  builtin printf '\036\037%s\037%d\037%s\n' "$__sk_nonce" "${#2}" "$2" >&"$fd"
}
# The control channel's reader, a process of its own: it forwards each request to the supervisor
# over a pipe (input answers to the input server) and, at end of file (the host is gone), kills
# the process group, the user shell included, even while a cell runs.
__sk_forward() {
  local LC_ALL=C line payload verb nonce size
  trap '' INT  # interrupts are for the cell
  while IFS= builtin read -r line; do
    IFS=' ' builtin read -r verb nonce size _ <<< "$line"
    [[ $size =~ ^[0-9]+$ ]] || break
    payload=
    if (( size > 0 )) && ! IFS= builtin read -r -d '' -N "$size" payload; then break; fi
    (( ${#payload} == size )) || break
    if [[ $verb == input ]]; then
      builtin printf '%s\n%s' "$line" "$payload" >&"$__sk_ans" || break
    else
      builtin printf '%s\n%s' "$line" "$payload" || break
    fi
  done
  builtin kill -KILL 0
}
# Answers to `input` messages go to the running cell's input server (below) on their own pipe;
# __sk_nap is a pipe nobody writes, for sleeping with `read -t`.
exec {__sk_ans}<> <(:) {__sk_nap}<> <(:)
exec {__sk_in}< <(__sk_forward <&0 & :) </dev/null

# Input. A cell whose frontend allows stdin reads from a pipe that only its input server holds
# open for writing. The server watches the sandbox's processes: when one is blocked in read(2)
# (or readv/pread) on that pipe, which /proc/PID/syscall and /proc/PID/fdinfo tell, and nothing
# it wrote is left unread, it sends an `input` message and writes the answer (plus a newline) to
# the pipe, or closes it for end of input. This works for the `read` builtin and for any program
# the cell starts. gVisor has no /proc/PID/syscall: there the cell's stdin is an empty pipe with
# no writer, and the glue's `read` builtin (recipes/bash/sandbox_kernel_glue.c) of that stdin asks
# instead: it writes a line to a notification pipe, on which the server waits, and reads the
# answers' pipe in its place (other programs read end of input). When the frontend does not allow stdin, cells read
# /dev/null (end of input at once).
__sk_input_ok=
[[ -r /proc/self/syscall ]] && __sk_input_ok=1
__sk_reader_waiting() {
  local f nr fd rest k v
  for f in /proc/[0-9]*/syscall; do
    { builtin read -r nr fd rest < "$f"; } 2>/dev/null || continue
    [[ $nr == 0 || $nr == 17 || $nr == 19 ]] || continue
    [[ $fd == 0x* ]] || continue
    while builtin read -r k v; do
      if [[ $k == ino: ]]; then [[ $v == "$1" ]] && return 0; break; fi
    done 2>/dev/null < "${f%/syscall}/fdinfo/$(( fd ))"
  done
  return 1
}
__sk_input_server() {
  local LC_ALL=C ino k v line verb nonce size given text
  builtin trap '' INT
  builtin printf '%s\n' "$BASHPID"
  \exec 1>&- {__sk_in}<&-
  while builtin read -r k v; do [[ $k == ino: ]] && ino=$v; done < "/proc/self/fdinfo/$__sk_pr"
  \exec {__sk_pr}<&-
  while :; do
    if [[ -n $__sk_nfy ]]; then
      IFS= builtin read -r -u "$__sk_nfy" _ || return  # a `read` of the glue's asks
    else
      IFS= builtin read -r -t 0.05 -u "$__sk_nap" _
      __sk_reader_waiting "$ino" || continue
    fi
    __sk_send 1 '{"type":"input","prompt":"","password":false}'
    nonce=
    until [[ $nonce == "$__sk_nonce" ]]; do  # an answer to an earlier cell's request is dropped
      IFS= builtin read -r -u "$__sk_ans" line || return
      IFS=' ' builtin read -r verb nonce size given <<< "$line"
      text=
      if (( size > 0 )); then IFS= builtin read -r -d '' -N "$size" -u "$__sk_ans" text || return; fi
    done
    [[ $given == 1 ]] || return  # end of input: the write end closes with this process
    builtin printf '%s\n' "$text" >&"$__sk_pw"
  done
}
# Prepare the cell's stdin (fd __sk_cin) and start its input server; __sk_ipid is the server's.
# With the glue's `read` (no /proc/PID/syscall), __sk_hook gets the two paths its runner passes.
__sk_input_start() {
  local rw pid
  __sk_ipid= __sk_cin= __sk_pr= __sk_nfy= __sk_hook=
  [[ $1 == 1 ]] || return
  if [[ -z $__sk_input_ok ]]; then
    [[ -n $__sk_glued ]] || return
    \exec {__sk_nfy}<> <(:)
  fi
  \exec {rw}<> <(:)
  \exec {__sk_pr}<"/proc/self/fd/$rw" {__sk_pw}>"/proc/self/fd/$rw" {rw}>&-
  \exec {__sk_ictl}< <(__sk_input_server & :)
  IFS= builtin read -r -u "$__sk_ictl" __sk_ipid
  \exec {__sk_ictl}<&- {__sk_pw}>&-
  if [[ -n $__sk_nfy ]]; then
    # the cell's stdin: a pipe of its own with no writer (end of input for any other reader), so
    # that the glue's `read` asks for the cell's stdin only, not for /dev/null or a background job
    \exec {__sk_eof}< <(:)
    __sk_cin=$__sk_eof
    __sk_hook=" /proc/$$/fd/$__sk_pr /proc/$$/fd/$__sk_nfy"
  else
    __sk_cin=$__sk_pr
  fi
}
__sk_input_stop() {
  [[ -n $__sk_ipid ]] && builtin kill -KILL "$__sk_ipid" 2>/dev/null
  [[ -n $__sk_pr ]] && \exec {__sk_pr}<&-
  [[ -n $__sk_nfy ]] && \exec {__sk_nfy}<&- {__sk_eof}<&-
  __sk_ipid= __sk_cin= __sk_pr= __sk_nfy= __sk_hook=
}
# A request from the reader: "VERB NONCE SIZE [ARG]" then SIZE bytes.
__sk_read() {
  local LC_ALL=C __sk_line __sk_size
  IFS= builtin read -r -u "$__sk_in" __sk_line || return 1
  IFS=' ' builtin read -r __sk_verb __sk_nonce __sk_size __sk_rest <<< "$__sk_line"
  __sk_payload=
  if (( __sk_size > 0 )); then
    IFS= builtin read -r -d '' -u "$__sk_in" -N "$__sk_size" __sk_payload || return 1
  fi
  __sk_got=${#__sk_payload}
}
# JSON string of $1 (for replies): backslash, quote and control characters escaped.
__sk_json() {
  local s=$1
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/\\r}
  s=${s//[$'\x01'-$'\x1f']/}
  builtin printf '"%s"' "$s"
}
# The value of the JSON string field $2 of the request $1 (the host's json.dumps: ASCII, escapes).
__sk_field() {
  local re='"'$2'": "(([^"\\]|\\.)*)"' s
  [[ $1 =~ $re ]] || return 1
  s=${BASH_REMATCH[1]}
  s=${s//\\\\/$'\x01'}; s=${s//\\\"/\"}; s=${s//\\\//\/}
  s=${s//%/%%}; s=${s//$'\x01'/\\\\}
  builtin printf -v s "$s"
  __sk_value=$s
}
__sk_number() {
  local re='"'$2'": ([0-9]+)'
  [[ $1 =~ $re ]] && __sk_value=${BASH_REMATCH[1]}
}
# is_complete: the cell parsed with `set -n` (read, never run) in a subshell; bash's own
# messages tell an unfinished construct (end of file) from a syntax error.
__sk_is_complete() {
  local err status=complete indent=
  err=$(builtin eval $'builtin set -n\n'"$1" 2>&1 >/dev/null)
  if [[ $err == *"unexpected end of file"* || $err == *"unexpected EOF"* \
        || $err == *"delimited by end-of-file"* || $1 =~ (^|[^\\])(\\\\)*\\$ ]]; then
    status=incomplete indent='  '
  elif [[ $err == *"syntax error"* ]]; then
    status=invalid
  fi
  __sk_send 1 "{\"type\":\"is_complete\",\"status\":\"$status\",\"indent\":\"$indent\"}"
}
# The request's code and cursor, or an answer saying there is nothing to tell.
__sk_request() {
  __sk_code= __sk_cursor=0 __sk_detail=0
  __sk_field "$__sk_payload" code && __sk_code=$__sk_value
  __sk_number "$__sk_payload" cursor_pos && __sk_cursor=$__sk_value
  __sk_number "$__sk_payload" detail_level && __sk_detail=$__sk_value
  __sk_code=${__sk_code//$'\r\n'/$'\n'}
  :
}
# The user shell: a coprocess (its stdin, and its stdout and stderr, are pipes to the supervisor)
# that keeps none of the supervisor's descriptors. The coprocess's own shell waits for it and then
# writes its exit status on the event pipe. SHLVL=0: it says 1, as a shell docker started would.
# SIGINT: the user shell starts with the default action (its trap is set below); the supervisor
# ignores it from now on (an interrupt is for the cell).
__sk_fail() {  # the session cannot go on: say why on the container's stderr, end the sandbox
  builtin printf 'sandbox-kernel: %s; this sandbox is replaced (state from earlier cells is lost)\n' "$1" >&"$__sk_err"
  builtin exit 1  # docker-init, PID 1, follows: the container and all its processes end
}
coproc __sk_user {
  \exec {__sk_in}<&- {__sk_ans}<&- {__sk_nap}<&- {__sk_out}>&- {__sk_err}>&- 2>&1
  trap ':' INT
  SHLVL=0 bash --norc --noprofile /dev/stdin
  builtin printf '\036exit\037%d\036' "$?"
}
trap '' INT
\exec {__sk_ev}<&"${__sk_user[0]}" {__sk_cmd}>&"${__sk_user[1]}"
\exec {__sk_user[0]}<&- {__sk_user[1]}>&-
# Read the event pipe up to the marker of request $1: __sk_mark gets its fields (US-separated),
# __sk_said what came before it. The user shell's end makes this supervisor exit with its
# status, as the container's own: the host reports it and starts a fresh sandbox for the next
# cell.
__sk_await() {
  local chunk
  __sk_said=
  while IFS= builtin read -r -d $'\036' -u "$__sk_ev" chunk; do
    # (the echo of `set -v` shows the marker unexpanded: its status is no number)
    if [[ $chunk == "$1"$'\037'[0-9]* ]]; then
      __sk_mark=${chunk#"$1"$'\037'}
      IFS= builtin read -r -u "$__sk_ev" chunk  # the rest of the line
      return 0
    elif [[ $chunk == exit$'\037'* ]]; then
      builtin exit "${chunk#exit$'\037'}"
    fi
    __sk_said+=$chunk
  done
  builtin exit 1
}
# The marker line (__sk_m) of the next exchange (__sk_seq): an arithmetic command whose
# expression is not one (it begins with RS), so bash's error message, sent to the event pipe,
# carries the fields: status, options, directory, OLDPWD (set?, value), the shopt list and the end
# of the set -o list (posix is what is needed). The directories come quoted by bash (`${PWD@Q}`:
# `'...'`, or `$'...'` with escapes for control characters), so no byte of a directory name (RS,
# US, a newline) can end a field; the supervisor passes them back to the user shell as they are. `((` is a keyword: no function, alias or
# `enable -n` reaches it; it works with errexit, nounset and in posix mode; and it costs no file
# lookup (a failing redirection costs milliseconds under gVisor).
__sk_seq=0
__sk_marker() {
  local to=' 2>/proc/'$$'/fd/'$__sk_ev
  [[ -n $__sk_glued ]] && to=  # the glue's runner has put stderr back on the event pipe
  (( ++__sk_seq ))
  __sk_m='(( '$'\036'$__sk_seq$'\037''$?'$'\037''$-'$'\037''${PWD+${PWD@Q}}'$'\037''${OLDPWD+1}'$'\037''${OLDPWD+${OLDPWD@Q}}'$'\037''${BASHOPTS-}'$'\037''${SHELLOPTS#*interactive-comments}'$'\036'' ))'$to' || ((1))'$'\n'
}
# Send lines to the user shell.
__sk_tell() {
  builtin printf '%s\n' "$1" >&"$__sk_cmd" 2>/dev/null
}
# What the marker says about the user shell: status, options, directory, OLDPWD, shopts.
__sk_state() {
  local IFS=$'\037'
  builtin read -r -d '' __sk_st __sk_flags __sk_pwd __sk_had_old __sk_oldpwd __sk_opts __sk_setopts <<< "$__sk_mark"
  __sk_setopts=${__sk_setopts%$'\n'}
}
# A query in the user shell at top level (its output on the event pipe): __sk_said gets it.
# Used for completion and inspection (compgen, type, help), and to read what a traced or echoed
# runner printed.
__sk_query() {
  __sk_marker
  __sk_tell $'\\builtin set +xv\n{ '"$1; } >/proc/$$/fd/$__sk_ev 2>/dev/null"$' || ((1))\n'"$__sk_m"
  __sk_await "$__sk_seq"
  __sk_said=${__sk_said%"${__sk_said##*$'\n'}"}  # bash's "NAME: line N: ((: " ends it
}
# The user shell's SIGINT trap, set at its start and again by every runner (a cell's `trap - INT`
# or its own INT trap holds for that cell only).
__sk_q="'"
__sk_inttrap="\\builtin trap -- $__sk_q{ \\builtin trap $__sk_q\\$__sk_q$__sk_q{ (( \${#BASH_SOURCE[@]} > 1 )) && \\builtin return 130; } 2>/dev/null$__sk_q\\$__sk_q$__sk_q DEBUG; } 2>/dev/null$__sk_q INT"
builtin unset __sk_q
# The glue (a loadable builtin of the bash image, recipes/bash/sandbox_kernel_glue.c): when the
# user shell loads it, cells run through `source --sandbox-kernel-cell`; else (an image without
# it) through the shell-only runner, which needs `set -T` and a visible SIGINT trap.
__sk_marker
__sk_tell $'\\exec 0</dev/null; BASH_ARGV0=bash; \\builtin shopt -s expand_aliases\n\\builtin enable -f /usr/local/lib/sandbox-kernel/bash-glue.so trap 2>/dev/null\n'"$__sk_m"
__sk_await "$__sk_seq"
__sk_state
__sk_glued=
if [[ $__sk_st == 0 ]]; then
  __sk_glued=1
else
  __sk_marker
  __sk_tell $'\\builtin set -T\n'"$__sk_inttrap"$'\n'"$__sk_m"
  __sk_await "$__sk_seq"
  __sk_state
fi
[[ -d /dev/shm && -w /dev/shm ]] || __sk_fail "/dev/shm is not writable"

# complete: the word before the cursor against the live shell (compgen): variables after `$`,
# commands (aliases, builtins, functions, keywords, programs) in command position, else paths
# (directories get a `/`).
__sk_complete() {
  local code=$1 cursor=$2 before word head word_prefix list=() dirs=() m out= sep= n=0 start q
  local -A seen=() isdir=()
  before=${code:0:cursor}
  [[ $before =~ ([^[:space:]\;\|\&\(\)\<\>\`\"\']*)$ ]]
  word=${BASH_REMATCH[1]}
  head=${before%"$word"}
  start=$(( cursor - ${#word} ))
  if [[ $word == \$\{* ]]; then
    q=${word#??}; word_prefix='${'; __sk_query "\\builtin compgen -v -- $(builtin printf '%q' "$q")"
  elif [[ $word == \$* ]]; then
    q=${word#?}; word_prefix='$'; __sk_query "\\builtin compgen -v -- $(builtin printf '%q' "$q")"
  elif [[ $word != */* && $head =~ (^|[\;\|\&\(\`]|\$\(|[[:space:]](then|do|else|elif|if|while|until|time|!))[[:space:]]*$ ]]; then
    word_prefix=; __sk_query "\\builtin compgen -c -- $(builtin printf '%q' "$word")"
  else
    word_prefix=
    if [[ $head =~ [^[:space:]] ]]; then
      __sk_query "\\builtin compgen -d -- $(builtin printf '%q' "$word")"
      builtin mapfile -t dirs <<< "$__sk_said"
      for m in "${dirs[@]}"; do [[ -n $m ]] && isdir[$m]=1; done
    fi
    __sk_query "\\builtin compgen -f -- $(builtin printf '%q' "$word")"
  fi
  builtin mapfile -t list <<< "$__sk_said"
  for m in "${list[@]}"; do
    [[ -z $m || -n ${seen[$m]+x} ]] && continue
    seen[$m]=1
    [[ -n ${isdir[$m]+x} ]] && m+=/
    m=$(__sk_json "$word_prefix$m")
    # Within the host's message cap, with room for the rest (characters: at most 4 bytes each).
    (( (${#out} + ${#m}) * 4 + 256 > __sk_max )) && continue
    out+=$sep$m; sep=,
    (( ++n >= 1000 )) && break
  done
  __sk_send 1 "{\"type\":\"complete\",\"matches\":[$out],\"cursor_start\":$start,\"cursor_end\":$cursor}"
}
# inspect: `type` of the name at the cursor (a function's source), and `help` for builtins and
# keywords, asked of the user shell.
__sk_inspect() {
  local code=$1 cursor=$2 detail=$3 name text kind q
  [[ ${code:0:cursor} =~ ([[:alnum:]_.:+-]*)$ ]]; name=${BASH_REMATCH[1]}
  [[ ${code:cursor} =~ ^([[:alnum:]_.:+-]*) ]]; name+=${BASH_REMATCH[1]}
  q=$(builtin printf '%q' "$name")
  [[ -n $name ]] && __sk_query "\\builtin type -t -- $q"
  kind=${__sk_said%$'\n'}
  if [[ -z $name || -z $kind ]]; then
    __sk_send 1 '{"type":"inspect","found":false,"data":{},"metadata":{}}'
    return
  fi
  __sk_query "\\builtin type -- $q"
  text=${__sk_said%$'\n'}
  if [[ $kind == builtin || $kind == keyword ]]; then
    if (( detail )); then __sk_query "\\builtin help -- $q"
    else __sk_query "\\builtin help -d -- $q"; fi
    text+=$'\n\n'${__sk_said%$'\n'}
  fi
  text=${text:0:65536}
  __sk_send 1 "{\"type\":\"inspect\",\"found\":true,\"data\":{\"text/plain\":$(__sk_json "$text")},\"metadata\":{}}"
}
# The restoring prefix of a cell's first line (see the top of this file), from the last marker.
__sk_prefix() {
  local p q=$__sk_pwd
  # Back to the user's directory (quoted by bash in the marker); `cd` still moves when PWD or
  # OLDPWD is readonly (and then fails), hence the test. A directory that is gone (or no longer
  # accessible) cannot be entered again: the cell runs in /workspace (else /), with a note.
  p='>|/dev/shm/bash; { \builtin cd -- '$q'; [[ '$q' -ef . ]]; } 2>/dev/null || { { \builtin cd /workspace || \builtin cd /; } 2>/dev/null; \builtin printf "sandbox-kernel: the working directory %s no longer exists (or is not accessible): this cell runs in %s\n" '$q' "$PWD" >&2; }; '
  # `declare`, not an assignment: a readonly OLDPWD fails it without aborting the line
  if [[ -n $__sk_had_old ]]; then p+='\builtin declare -g OLDPWD='$__sk_oldpwd' 2>/dev/null || ((1)); '
  else p+='\builtin unset OLDPWD 2>/dev/null || ((1)); '; fi
  if [[ :$__sk_setopts: == *:posix:* ]]; then
    p+='\builtin set -o posix; '  # which turns expand_aliases on
    [[ :$__sk_opts: == *:expand_aliases:* ]] || p+='\builtin shopt -u expand_aliases; '
  fi
  [[ :$__sk_opts: == *:sourcepath:* ]] && p+='\builtin shopt -s sourcepath; '
  # verbose echoes lines as they are read: the first was read before `set -v` ran
  if [[ $__sk_flags == *v* ]]; then
    p+='\builtin set -v; '
    if [[ -n $1 ]]; then builtin printf -v q '%q' "${1%%$'\n'*}"; p+='\builtin printf "%s\n" '$q' >&2; '; fi
  fi
  [[ $__sk_flags == *e* ]] && p+='\builtin set -e; '  # off in the runner: see __sk_cell
  [[ $__sk_flags == *x* ]] && p+='\builtin set -x; '
  __sk_pre=$p
}
# Whether the cell's first line is a syntax error by itself (then nothing of the cell runs, and
# the cell is sent without the prefix, so that bash's message quotes the user's line only). Parsed
# here, as the body of a function that is never called (no fork), with extglob on; a line with a
# `}` could close that body and run here, so it is not checked (nor a line over 4 KiB). Only
# believed when the user shell has no aliases (an alias can make a line valid there).
__sk_line1_invalid() {
  local line=${1%%$'\n'*} err=
  [[ $line == *'}'* || ${#line} -gt 4096 ]] && return 1
  builtin shopt -s extglob
  builtin eval "__sk_chk() { $line"$'\n}' 2>/dev/null && err=ok
  [[ -z $err ]] && builtin eval "__sk_chk() { $line"$'\n}' 2>/dev/shm/.sandbox-kernel-check
  builtin shopt -u extglob
  builtin unset -f __sk_chk
  [[ -z $err ]] || return 1
  IFS= builtin read -r -d '' err < /dev/shm/.sandbox-kernel-check
  [[ $err == *'`__sk_chk() { '* ]] || return 1  # bash quotes the offending line: the first
  __sk_query '\builtin alias'
  [[ -z $__sk_said ]]
}
# Run the text $1 (already prefixed) as a cell with stdin $2; __sk_st and the state are set, and
# __sk_entered says whether the real `source` read it.
__sk_cell() {
  builtin printf '%s' "$1" 2>/dev/null >| /dev/shm/bash || __sk_fail "cannot write the cell to /dev/shm"
  local aliases=-u
  [[ :$__sk_opts: == *:expand_aliases:* ]] && aliases=-s
  __sk_marker
  if [[ -n $__sk_glued ]]; then
    # the glue sets the cell's options e, v and x (off while the runner line runs) and `$?`
    __sk_tell '\builtin set +exv; \builtin source --sandbox-kernel-cell /dev/shm/bash '"${__sk_status:-0}"' -'"${__sk_flags//[^evx]/} $2 /proc/$$/fd/$__sk_out /proc/$$/fd/$__sk_err /proc/$$/fd/$__sk_ev$__sk_hook"$'\n'"$__sk_m"
  else
    # errexit is off until the prefix has moved back: with it, `cd` exits the shell when it
    # cannot set a readonly PWD or OLDPWD (even on the left of `||`).
    __sk_tell "$__sk_inttrap"'; \builtin trap - DEBUG; \builtin set +o posix; \builtin shopt -u sourcepath; \builtin shopt '$aliases' expand_aliases; \builtin set +e; { \builtin cd /dev/shm; [[ . -ef /dev/shm ]]; } 2>/dev/null && \builtin source bash <'"$2"' >/proc/'"$$"'/fd/'"$__sk_out"' 2>/proc/'"$$"'/fd/'"$__sk_err"$'\n'"$__sk_m"'\exec </dev/null >/proc/'"$$"'/fd/'"$__sk_ev"' 2>&1'
  fi
  __sk_await "$__sk_seq"
  __sk_state
  __sk_entered=
  [[ -s /dev/shm/bash ]] || __sk_entered=1
}
__sk_broken="this cell did not run: the shell could not start it any more; likely causes: an earlier cell disabled or redefined a builtin the runner uses (builtin, source, cd, shopt, set, trap) or set a resource limit too low for it (ulimit -n: the runner opens descriptors; ulimit -u, -v)"
__sk_send 1 "{\"type\":\"ready\",\"pid\":$$,\"version\":\"$BASH_VERSION\"}"
while __sk_read; do
  if [[ $__sk_verb == run ]]; then
    __sk_send 1 "{\"type\":\"ack\",\"size\":$__sk_got}"
    __sk_payload=${__sk_payload//$'\r\n'/$'\n'}  # Windows line endings
    __sk_input_start "$__sk_rest"
    __sk_stdin=/dev/null
    [[ -n $__sk_cin ]] && __sk_stdin=/proc/$$/fd/$__sk_cin
    __sk_pre=
    if [[ -z $__sk_glued ]]; then
      __sk_prefix "$__sk_payload"
      __sk_line1_invalid "$__sk_payload" && __sk_pre=
    fi
    __sk_before=("$__sk_flags" "$__sk_pwd" "$__sk_had_old" "$__sk_oldpwd" "$__sk_opts" "$__sk_setopts")
    __sk_cell "$__sk_pre$__sk_payload" "$__sk_stdin"
    __sk_input_stop
    __sk_status=$__sk_st
    if [[ -z $__sk_entered && -n $__sk_glued ]]; then
      (( __sk_status )) || __sk_status=1
      __sk_fail "$__sk_broken"
    elif [[ -z $__sk_entered ]]; then
      # Line 1 did not run (a syntax error there: nothing of the cell ran), or the runner no
      # longer works (a cell redefined `builtin`, disabled `source`...). An empty cell tells
      # which, and puts the user's directory and options back.
      (( __sk_status )) || __sk_status=1
      __sk_flags=${__sk_before[0]} __sk_pwd=${__sk_before[1]} __sk_had_old=${__sk_before[2]}
      __sk_oldpwd=${__sk_before[3]} __sk_opts=${__sk_before[4]} __sk_setopts=${__sk_before[5]}
      __sk_prefix ''
      __sk_cell "$__sk_pre" /dev/null
      [[ -n $__sk_entered ]] || __sk_fail "$__sk_broken"
    fi
    # Leaving posix mode turns alias expansion off in a non-interactive bash; the kernel's shell
    # keeps it, as an interactive one does. (BASHOPTS does not show that change, but does show a
    # user's own `shopt -u expand_aliases`, which sticks.)
    if [[ -n $__sk_glued && :${__sk_before[5]}: == *:posix:* && :$__sk_setopts: != *:posix:* \
          && :$__sk_opts: == *:expand_aliases:* ]]; then
      __sk_query '\builtin shopt -s expand_aliases'
    fi
    [[ $__sk_flags == *[xv]* ]] && __sk_query '>/dev/null'  # the trace of the runner is read now, not with the next request
    if [[ -z $__sk_glued && ( -z $__sk_pwd || $__sk_pwd == "''" ) ]]; then  # PWD unset or empty: the shell still knows
      __sk_query '\builtin pwd'
      builtin printf -v __sk_pwd '%q' "${__sk_said%$'\n'}"
    fi
    __sk_payload= __sk_pre=
    __sk_send 2 '{"type":"flush"}'
    __sk_peak
    __sk_send 1 "{\"type\":\"done\",\"status\":$__sk_status,\"peak_memory\":$__sk_peakv}"
  elif [[ $__sk_verb == complete ]]; then
    __sk_request; __sk_complete "$__sk_code" "$__sk_cursor"
  elif [[ $__sk_verb == inspect ]]; then
    __sk_request; __sk_inspect "$__sk_code" "$__sk_cursor" "$__sk_detail"
  elif [[ $__sk_verb == is_complete ]]; then
    __sk_request; __sk_is_complete "$__sk_code"
  fi
done
builtin kill -KILL 0
