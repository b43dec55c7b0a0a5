# sandbox-kernel session driver for Bash, run as: bash -c SOURCE bash NONCE. Cells are sourced in
# this shell, so variables, functions, exports, aliases and the working directory persist. An
# interrupt (SIGINT) sets a flag; the DEBUG trap then returns from every function and from the
# sourced cell, which stops the cell without killing the shell. The protocol (drivers/PROTOCOL.md,
# version 2) uses builtins only: a cell can leave an environment that no external program could
# start with (E2BIG).
__sk_nonce=$1
set --
shopt -s expand_aliases
set -T
__sk_int=
trap '__sk_int=1' INT
trap 'if [[ -n $__sk_int ]] && (( ${#BASH_SOURCE[@]} > 0 )); then return 130; fi' DEBUG
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
  builtin printf '\036\037%s\037%d\037%s\n' "$__sk_nonce" "${#2}" "$2" >&"$1"
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
    builtin printf '%s\n%s' "$line" "$payload" || break
  done
  builtin kill -KILL 0
}
exec {__sk_in}< <(__sk_forward <&0 & :) </dev/null
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
__sk_send 1 "{\"type\":\"ready\",\"pid\":$$,\"version\":\"$BASH_VERSION\"}"
while __sk_read; do
  if [[ $__sk_verb == run ]]; then
    __sk_send 1 "{\"type\":\"ack\",\"size\":$__sk_got}"
    __sk_int=
    source <(builtin printf '%s' "$__sk_payload") </dev/null {__sk_in}<&-
    __sk_st=$?
    __sk_int=
    __sk_send 2 '{"type":"flush"}'
    __sk_send 1 "{\"type\":\"done\",\"status\":$__sk_st,\"peak_memory\":$(__sk_peak)}"
  elif [[ $__sk_verb == complete ]]; then
    __sk_send 1 '{"type":"complete","matches":[],"cursor_start":0,"cursor_end":0}'
  elif [[ $__sk_verb == inspect ]]; then
    __sk_send 1 '{"type":"inspect","found":false,"data":{},"metadata":{}}'
  elif [[ $__sk_verb == is_complete ]]; then
    __sk_send 1 '{"type":"is_complete","status":"unknown","indent":""}'
  fi
done
builtin kill -KILL 0
