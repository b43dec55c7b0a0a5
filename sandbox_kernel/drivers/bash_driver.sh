# sandbox-kernel session driver for Bash, run as: bash -c SOURCE bash NONCE. Cells are sourced in
# this shell, so variables, functions, exports, aliases and the working directory persist. An
# interrupt (SIGINT) sets a flag and a DEBUG trap, which then returns from every function and from
# the sourced cell: that stops the cell without killing the shell. The protocol (drivers/PROTOCOL.md,
# version 2) uses builtins only: a cell can leave an environment that no external program could
# start with (E2BIG).
#
# Between cells the driver runs with the shell options that would break or expose it turned off
# (xtrace, verbose, nounset, errexit) and puts the cell's own back right before the next cell
# (xtrace as the first command of the sourced text, so that `set -x` never traces the driver),
# and every frame goes to private copies of the original stdout and stderr, which also become the
# next cell's stdout and stderr again: `exec >/dev/null 2>&1` silences its own cell only.
__sk_nonce=$1
exec {__sk_out}>&1 {__sk_err}>&2
__sk_flags= __sk_late=
set --
shopt -s expand_aliases
set -T
__sk_int=
# The DEBUG trap exists only from an interrupt to the end of its cell: no cost per command, and
# nothing for `set -x` or `set -v` to show otherwise.
__sk_stop='{ if [[ -n $__sk_int ]] && (( ${#BASH_SOURCE[@]} > 0 )); then return 130; fi; } 2>/dev/null'
trap '__sk_int=1; trap "$__sk_stop" DEBUG' INT
__sk_peak() {
  local f v
  for f in /sys/fs/cgroup/memory/memory.max_usage_in_bytes /sys/fs/cgroup/memory.peak; do
    if [[ -r $f ]] && builtin read -r v < "$f"; then builtin printf '%s' "$v"; return; fi
  done
  builtin printf null
}
# One frame: RS US NONCE US SIZE US JSON LF (SIZE in bytes, hence the C locale).
__sk_send() {
  local LC_ALL=C
  local fd=$__sk_out
  [[ $1 == 2 ]] && fd=$__sk_err
  builtin printf '\036\037%s\037%d\037%s\n' "$__sk_nonce" "${#2}" "$2" >&"$fd"
}
# The control channel's reader, a process of its own (so `wait` in a cell never waits for it):
# it forwards each request to the shell over a pipe and, at end of file (the host is gone), kills
# the driver's process group, even while a cell runs.
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
# the cell starts. gVisor has no /proc/PID/syscall: there, and when the frontend does not allow
# stdin, cells read /dev/null (end of input at once).
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
    IFS= builtin read -r -t 0.05 -u "$__sk_nap" _
    __sk_reader_waiting "$ino" || continue
    __sk_send 1 '{"type":"input","prompt":"","password":false}'
    IFS= builtin read -r -u "$__sk_ans" line || return
    IFS=' ' builtin read -r verb nonce size given <<< "$line"
    text=
    if (( size > 0 )); then IFS= builtin read -r -d '' -N "$size" -u "$__sk_ans" text || return; fi
    [[ $given == 1 ]] || return  # end of input: the write end closes with this process
    builtin printf '%s\n' "$text" >&"$__sk_pw"
  done
}
# Prepare the cell's stdin (fd __sk_cin) and start its input server; __sk_ipid is the server's.
__sk_input_start() {
  local rw pid
  __sk_ipid=
  if [[ $1 != 1 || -z $__sk_input_ok ]]; then \exec {__sk_cin}</dev/null; return; fi
  \exec {rw}<> <(:)
  \exec {__sk_pr}<"/proc/self/fd/$rw" {__sk_pw}>"/proc/self/fd/$rw" {rw}>&-
  \exec {__sk_ictl}< <(__sk_input_server & :)
  IFS= builtin read -r -u "$__sk_ictl" __sk_ipid
  \exec {__sk_ictl}<&- {__sk_pw}>&-
  __sk_cin=$__sk_pr
}
__sk_input_stop() {
  [[ -n $__sk_ipid ]] && builtin kill -KILL "$__sk_ipid" 2>/dev/null
  \exec {__sk_cin}<&-
  __sk_ipid= __sk_cin=
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
# complete: the word before the cursor against the live shell (compgen): variables after `$`,
# commands (aliases, builtins, functions, keywords, programs) in command position, else paths.
__sk_complete() {
  local code=$1 cursor=$2 before word head word_prefix list=() m out= sep= n=0 start
  local -A seen=()
  before=${code:0:cursor}
  [[ $before =~ ([^[:space:]\;\|\&\(\)\<\>\`\"\']*)$ ]]
  word=${BASH_REMATCH[1]}
  head=${before%"$word"}
  start=$(( cursor - ${#word} ))
  if [[ $word == \$\{* ]]; then
    builtin mapfile -t list < <(builtin compgen -v -- "${word#??}"); word_prefix='${'
  elif [[ $word == \$* ]]; then
    builtin mapfile -t list < <(builtin compgen -v -- "${word#?}"); word_prefix='$'
  elif [[ $word != */* && $head =~ (^|[\;\|\&\(\`]|\$\(|[[:space:]](then|do|else|elif|if|while|until|time|!))[[:space:]]*$ ]]; then
    builtin mapfile -t list < <(builtin compgen -c -- "$word"); word_prefix=
  else
    builtin mapfile -t list < <(builtin compgen -f -- "$word"); word_prefix=
  fi

  for m in "${list[@]}"; do
    [[ -n ${seen[$m]+x} ]] && continue
    seen[$m]=1
    [[ -z $word_prefix && -d $m && $word != \$* && $head =~ [^[:space:]] ]] && m+=/
    out+=$sep$(__sk_json "$word_prefix$m"); sep=,
    (( ++n >= 1000 )) && break
  done
  __sk_send 1 "{\"type\":\"complete\",\"matches\":[$out],\"cursor_start\":$start,\"cursor_end\":$cursor}"
}
# inspect: `type` of the name at the cursor (a function's source), and `help` for builtins and
# keywords.
__sk_inspect() {
  local code=$1 cursor=$2 detail=$3 name text kind
  [[ ${code:0:cursor} =~ ([[:alnum:]_.:+-]*)$ ]]; name=${BASH_REMATCH[1]}
  [[ ${code:cursor} =~ ^([[:alnum:]_.:+-]*) ]]; name+=${BASH_REMATCH[1]}
  kind=$(builtin type -t -- "$name" 2>/dev/null)
  if [[ -z $name || -z $kind ]]; then
    __sk_send 1 '{"type":"inspect","found":false,"data":{},"metadata":{}}'
    return
  fi
  text=$(builtin type -- "$name" 2>&1)
  if [[ $kind == builtin || $kind == keyword ]]; then
    if (( detail )); then text+=$'\n\n'$(builtin help -- "$name" 2>&1)
    else text+=$'\n\n'$(builtin help -d -- "$name" 2>&1); fi
  fi
  text=${text:0:65536}
  __sk_send 1 "{\"type\":\"inspect\",\"found\":true,\"data\":{\"text/plain\":$(__sk_json "$text")},\"metadata\":{}}"
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
# Running a cell: its text is sourced from a file named `bash` (in /dev/shm, the working
# directory for that instant), so that bash's messages say `bash: line N:` as in `bash -c`, with N
# the cell's own line. The first line begins with the driver's restoring prefix (back to the
# user's directory, OLDPWD and sourcepath, then xtrace and verbose), on the same line as the
# cell's first line, so line numbers stay the cell's; if that line has a syntax error nothing
# of it ran and the driver restores the same itself (__sk_leave). Without a writable /dev/shm
# the text comes from a pipe (messages then name /dev/fd/N).
__sk_shm=
[[ -d /dev/shm && -w /dev/shm ]] && __sk_shm=1
__sk_prepare() {
  __sk_entered= __sk_pwd=$PWD __sk_had_old= __sk_sourcepath=
  [[ -v OLDPWD ]] && __sk_had_old=1 __sk_oldpwd=$OLDPWD
  builtin shopt -q sourcepath && __sk_sourcepath=1
  __sk_prefix='__sk_entered=1; builtin cd -- "$__sk_pwd"; '
  if [[ -n $__sk_had_old ]]; then __sk_prefix+='OLDPWD=$__sk_oldpwd; '
  else __sk_prefix+='builtin unset OLDPWD; '; fi
  [[ -n $__sk_sourcepath ]] && __sk_prefix+='builtin shopt -s sourcepath; '
  __sk_prefix+=$__sk_late
  [[ -n $__sk_shm ]] || return 1
  builtin printf '%s%s' "$__sk_prefix" "$__sk_payload" 2>/dev/null >| /dev/shm/bash || return 1
  builtin cd /dev/shm 2>/dev/null || return 1
  builtin shopt -u sourcepath
}
__sk_leave() {
  builtin cd -- "$__sk_pwd" 2>/dev/null
  if [[ -n $__sk_had_old ]]; then OLDPWD=$__sk_oldpwd; else builtin unset OLDPWD; fi
  [[ -n $__sk_sourcepath ]] && builtin shopt -s sourcepath
}
__sk_send 1 "{\"type\":\"ready\",\"pid\":$$,\"version\":\"$BASH_VERSION\"}"
while __sk_read; do
  if [[ $__sk_verb == run ]]; then
    __sk_send 1 "{\"type\":\"ack\",\"size\":$__sk_got}"
    __sk_int=
    __sk_payload=${__sk_payload//$'\r\n'/$'\n'}  # Windows line endings
    \exec 1>&"$__sk_out" 2>&"$__sk_err"
    __sk_input_start "$__sk_rest"
    # At top level (not in a function), so that a cell's `declare` makes globals.
    if __sk_prepare; then
      [[ -n $__sk_flags ]] && builtin set "-$__sk_flags"
      source bash <&"$__sk_cin" {__sk_in}<&-
    else
      [[ -n $__sk_flags ]] && builtin set "-$__sk_flags"
      source <(builtin printf '%s%s' "$__sk_prefix" "$__sk_payload") <&"$__sk_cin" {__sk_in}<&-
    fi
    { __sk_st=$? __sk_flags=$-; builtin set +xveu; builtin trap - DEBUG; } 2>/dev/null
    __sk_input_stop
    \exec 1>&"$__sk_out" 2>&"$__sk_err"
    if [[ -z $__sk_entered ]]; then  # line 1 did not run (a syntax error): nothing did
      __sk_leave
      __sk_flags+=${__sk_late//[^xv]/}
    fi
    __sk_late=
    # verbose echoes lines as they are read: the first line was read before `set -v` ran, so
    # the prefix echoes the cell's part of it.
    [[ $__sk_flags == *v* ]] && __sk_late+='builtin set -v; builtin printf "%s\n" "${__sk_payload%%$'"'"'\n'"'"'*}" >&2; '
    [[ $__sk_flags == *x* ]] && __sk_late+='builtin set -x; '
    __sk_flags=${__sk_flags//[^eu]/}
    builtin unset __sk_payload __sk_prefix  # the cell's text does not stay in `declare -p`
    __sk_int=
    __sk_send 2 '{"type":"flush"}'
    __sk_send 1 "{\"type\":\"done\",\"status\":$__sk_st,\"peak_memory\":$(__sk_peak)}"
  elif [[ $__sk_verb == complete ]]; then
    __sk_request; __sk_complete "$__sk_code" "$__sk_cursor"
  elif [[ $__sk_verb == inspect ]]; then
    __sk_request; __sk_inspect "$__sk_code" "$__sk_cursor" "$__sk_detail"
  elif [[ $__sk_verb == is_complete ]]; then
    __sk_request; __sk_is_complete "$__sk_code"
  fi
done
builtin kill -KILL 0
