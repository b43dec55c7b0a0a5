# sandbox-kernel session driver for Bash, run as: bash -c SOURCE bash TOKEN. Cells are sourced in
# this shell, so variables, functions, exports, aliases and the working directory persist. An
# interrupt (SIGINT) sets a flag; the DEBUG trap then returns from every function and from the
# sourced cell, which stops the cell without killing the shell.
__sk_token=$'\x1e\x1f'"$1"$'\x1f'
set --
shopt -s expand_aliases
set -T
__sk_int=
trap '__sk_int=1' INT
trap 'if [[ -n $__sk_int ]] && (( ${#BASH_SOURCE[@]} > 0 )); then return 130; fi' DEBUG
__sk_peak() {
  local f v
  for f in /sys/fs/cgroup/memory/memory.max_usage_in_bytes /sys/fs/cgroup/memory.peak; do
    if [[ -r $f ]] && read -r v < "$f"; then printf '%s' "$v"; return; fi
  done
  printf null
}
printf '%s{"type":"ready","pid":%d}\n' "$__sk_token" "$$"
while IFS=' ' read -r __sk_verb __sk_id __sk_n __sk_rest; do
  __sk_payload=$(head -c "$__sk_n"; printf x)
  __sk_payload=${__sk_payload%x}
  if [[ $__sk_verb == run ]]; then
    __sk_int=
    source <(printf '%s' "$__sk_payload") </dev/null
    __sk_st=$?
    __sk_int=
    printf '%s{"type":"flush","id":"%s"}\n' "$__sk_token" "$__sk_id" >&2
    printf '%s{"type":"done","id":"%s","status":%d,"peak_memory":%s}\n' \
      "$__sk_token" "$__sk_id" "$__sk_st" "$(__sk_peak)"
  elif [[ $__sk_verb == complete ]]; then
    printf '%s{"type":"complete","id":"%s","matches":[],"cursor_start":0,"cursor_end":0}\n' \
      "$__sk_token" "$__sk_id"
  fi
done
