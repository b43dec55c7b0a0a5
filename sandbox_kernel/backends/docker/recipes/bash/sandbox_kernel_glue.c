/* sandbox-kernel's glue for the Bash session driver (drivers/bash_driver.sh), a loadable builtin
 * built into the bash image and loaded by the user shell with `enable -f ... trap`.
 *
 * Why it exists: a Jupyter Bash cell should behave as if its text were read by a plain
 * non-interactive `bash` (messages `bash: line N:` counted from the cell's first line, `+` in
 * traces, no frame in BASH_SOURCE or FUNCNAME, no RETURN trap run at its end), an interrupt must
 * end the cell and keep the shell, and nothing of the driver may show. Plain bash offers no way to
 * run a text at top level with its own line numbers (`source` and `eval` add a frame, a level of
 * `+`, and `source` runs RETURN traps), and a non-interactive bash dies of SIGINT unless it has a
 * trap, which `trap -p` shows. So this file:
 *
 * - replaces the `trap` builtin by one that calls bash's own `trap_builtin` with the driver's
 *   SIGINT trap hidden (the user sees and sets traps as in any bash; setting SIGINT back to its
 *   default puts the driver's trap back, because the default of a non-interactive shell is to
 *   die);
 * - wraps the `source` builtin: `source --sandbox-kernel-cell FILE STATUS FLAGS` runs FILE as a
 *   cell (bash's `parse_and_execute`, as `eval` does, with line numbers reset, the file named
 *   "bash", one level of indirection less, `$?` set to STATUS and the options e, v, x of FLAGS
 *   turned on); `source --sandbox-kernel-interrupt` (the driver's SIGINT trap) ends the running
 *   cell as an interactive shell ends a command on ^C (`throw_to_top_level`), status 130. Any
 *   other use of `source` is bash's own.
 *
 * The names of the builtins, their help and their flags stay bash's; `enable -d trap` would
 * succeed where it fails for a static builtin (the one trace left). It uses symbols that Debian's
 * bash 5.2 exports for loadable builtins; the driver checks that loading worked and otherwise
 * falls back to its shell-only runner (drivers/bash_driver.sh says what that one shows). */
#include <config.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loadables.h"
#define FLAG_ON '-'  /* bash's flags.h, not among the installed headers */
#include "xmalloc.h"

extern char *trap_list[];
extern int set_signal (int, char *);
extern int signal_is_trapped (int);
extern int parse_and_execute (char *, const char *, int);
extern void throw_to_top_level (void);
extern volatile sig_atomic_t interrupt_state;
extern int indirection_level;
extern int last_command_exit_value;
extern int subshell_environment;
extern int change_flag (int, int);
extern void set_shellopts (void);
extern int trap_builtin (WORD_LIST *);
extern int source_builtin (WORD_LIST *);
extern struct builtin *builtin_address_internal (char *, int);
extern SHELL_VAR *find_variable (const char *);

#define SK_INT_TRAP "{ \\builtin source --sandbox-kernel-interrupt; } 2>/dev/null"
#define SK_CELL "--sandbox-kernel-cell"
#define SK_INTERRUPT "--sandbox-kernel-interrupt"
#define SK_MAX_CELL (64 * 1024 * 1024)

static int cell_running;

static int
sk_trap_is_ours (void)
{
  char *t = trap_list[SIGINT];
  return t != (char *)SIG_DFL && t != (char *)SIG_IGN && strcmp (t, SK_INT_TRAP) == 0;
}

/* The driver's SIGINT trap, in place of the default (which ends a non-interactive shell). */
static void
sk_default_int (void)
{
  if (subshell_environment == 0 && trap_list[SIGINT] == (char *)SIG_DFL)
    set_signal (SIGINT, SK_INT_TRAP);
}

static int
sk_trap (WORD_LIST *list)
{
  sigset_t block, old;
  char *ours = NULL;
  int status;

  sigemptyset (&block);
  sigaddset (&block, SIGINT);
  sigprocmask (SIG_BLOCK, &block, &old);
  if (sk_trap_is_ours ())
    {
      ours = trap_list[SIGINT];
      trap_list[SIGINT] = (char *)SIG_DFL;	/* what `trap` shows and replaces */
    }
  status = trap_builtin (list);
  if (ours)
    {
      /* untouched (in a subshell, whose traps are reset, the string is only shown) */
      if (trap_list[SIGINT] == (char *)SIG_DFL
	  && (signal_is_trapped (SIGINT) || subshell_environment != 0))
	trap_list[SIGINT] = ours;
      else
	xfree (ours);	/* the user's own trap, '', or the default: ours again, below */
    }
  sk_default_int ();
  sigprocmask (SIG_SETMASK, &old, NULL);
  return status;
}

/* The whole of a file as a string for parse_and_execute (which frees it), or NULL. */
static char *
sk_read_file (const char *path)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  size_t size = 0, room = 65536;
  char *text;
  ssize_t n;

  if (fd < 0)
    return NULL;
  text = xmalloc (room + 1);
  while ((n = read (fd, text + size, room - size)) != 0)
    {
      if (n < 0)
	{
	  if (errno == EINTR)
	    continue;
	  break;
	}
      size += (size_t)n;
      if (size == room)
	{
	  if (room >= SK_MAX_CELL)
	    break;
	  room *= 2;
	  text = xrealloc (text, room + 1);
	}
    }
  close (fd);
  if (n != 0)
    {
      xfree (text);
      return NULL;
    }
  text[size] = '\0';
  return text;
}

static int
sk_run_cell (WORD_LIST *args)
{
  const char *path, *flags;
  char *text;
  int status, fd;

  if (args == NULL || args->next == NULL || args->next->next == NULL
      || args->next->next->next != NULL)
    {
      builtin_error ("%s: usage: FILE STATUS FLAGS", SK_CELL);
      return EX_USAGE;
    }
  path = args->word->word;
  text = sk_read_file (path);
  if (text == NULL)
    {
      builtin_error ("%s: cannot read", path);
      return EXECUTION_FAILURE;
    }
  /* Emptied: the driver's proof that this shell read the cell. */
  fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd >= 0)
    close (fd);
  sk_default_int ();
  for (flags = args->next->next->word->word; *flags; flags++)
    if (*flags == 'e' || *flags == 'v' || *flags == 'x')
      change_flag (*flags, FLAG_ON);
  set_shellopts ();
  last_command_exit_value = atoi (args->next->word->word);
  cell_running = 1;
  indirection_level--;	/* parse_and_execute adds one: the cell traces with one `+` */
  status = parse_and_execute (text, "bash", SEVAL_NOHIST | SEVAL_RESETLINE);
  indirection_level++;
  cell_running = 0;
  return status;
}

/* The driver's SIGINT trap: end the running cell (never returns then), else nothing. */
static int
sk_interrupt (void)
{
  if (cell_running == 0 || subshell_environment != 0)
    return 128 + SIGINT;
  cell_running = 0;
  interrupt_state = 1;	/* throw_to_top_level: status 130, and back to the top level */
  throw_to_top_level ();
  return 128 + SIGINT;
}

static int
sk_source (WORD_LIST *list)
{
  if (list && strcmp (list->word->word, SK_CELL) == 0)
    return sk_run_cell (list->next);
  if (list && list->next == NULL && strcmp (list->word->word, SK_INTERRUPT) == 0)
    return sk_interrupt ();
  return source_builtin (list);
}

static char *trap_doc[] = { "", (char *)NULL };

struct builtin trap_struct = {
  "trap",
  sk_trap,
  BUILTIN_ENABLED,
  trap_doc,
  "trap [-lp] [[arg] signal_spec ...]",
  0
};

/* The user shell runs as `bash /dev/stdin` (its commands come on descriptor 255, which no cell
   can take away); a shell reading its commands from standard input has no script in its stack:
   no "/dev/stdin" in BASH_SOURCE, no "main" under the functions of FUNCNAME. Run at the top
   level, where each of these arrays holds the script's one element. */
static void
sk_forget_script (const char *name)
{
  SHELL_VAR *v = find_variable (name);
  ARRAY *a;

  if (v && array_p (v) && (a = array_cell (v)) && array_num_elements (a) == 1)
    array_shift (a, 1, AS_DISPOSE);
}

/* Run by `enable -f` before it installs `trap`: take over bash's help and flags for it, wrap
   `source`, put the SIGINT trap in place and drop the script's frame. */
int
trap_builtin_load (char *name)
{
  struct builtin *b;

  (void)name;
  b = builtin_address_internal ("trap", 1);
  if (b == NULL || b->function != trap_builtin)
    return 0;
  trap_struct.flags = b->flags | BUILTIN_ENABLED;
  trap_struct.long_doc = b->long_doc;
  trap_struct.short_doc = b->short_doc;
  b = builtin_address_internal ("source", 1);
  if (b == NULL || b->function != source_builtin)
    return 0;
  b->function = sk_source;
  set_signal (SIGINT, SK_INT_TRAP);
  sk_forget_script ("BASH_SOURCE");
  sk_forget_script ("BASH_LINENO");
  sk_forget_script ("FUNCNAME");
  return 1;
}
