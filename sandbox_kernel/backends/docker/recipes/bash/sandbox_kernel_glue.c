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
 *   other use of `source` is bash's own. Two more words, ANSWERS NOTIFY (paths), turn on input
 *   for the cell's `read` builtin where the driver cannot see a blocked read (gVisor has no
 *   /proc/PID/syscall): a `read` of the cell's standard input, /dev/null there, writes a line to
 *   NOTIFY (the driver then sends an input request) and reads from ANSWERS instead, where the
 *   answer, or the end of input, arrives. Other programs still read /dev/null.
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
#include <sys/stat.h>
#include <sys/sysmacros.h>
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
extern int read_builtin (WORD_LIST *);
extern int internal_getopt (WORD_LIST *, char *);
extern void reset_internal_getopt (void);
extern char *list_optarg;
extern void begin_unwind_frame (char *);
extern void run_unwind_frame (char *);
extern void add_unwind_protect ();

#define SK_INT_TRAP "{ \\builtin source --sandbox-kernel-interrupt; } 2>/dev/null"
#define SK_CELL "--sandbox-kernel-cell"
#define SK_INTERRUPT "--sandbox-kernel-interrupt"
#define SK_MAX_CELL (64 * 1024 * 1024)

static int cell_running;
static char *input_answers, *input_notify;	/* a cell's input paths, or NULL */

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

/* Standard input as it was before a `read` of the cell's answers (see sk_read). */
static void
sk_restore_stdin (char *saved)
{
  int fd = (int)(intptr_t)saved;

  dup2 (fd, 0);
  close (fd);
}

static void
sk_notify (void)
{
  int fd = open (input_notify, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

  if (fd >= 0)
    {
      ssize_t n = write (fd, "\n", 1);	/* failing: nobody listens, the read gets end of input */

      (void)n;
      close (fd);
    }
}

static int
sk_is_dev_null (int fd)
{
  struct stat st;

  return fstat (fd, &st) == 0 && S_ISCHR (st.st_mode) && st.st_rdev == makedev (1, 3);
}

/* `read`: bash's own, fed from the cell's answers when it reads the cell's standard input and
   the cell has input paths (see the top of this file). Its options are parsed as read does. */
static int
sk_read (WORD_LIST *list)
{
  int opt, fd = 0, poll_only = 0, answers, saved, status;

  if (input_answers == NULL)
    return read_builtin (list);
  reset_internal_getopt ();
  while ((opt = internal_getopt (list, "ac:d:ei:n:N:p:rst:u:")) != -1)
    {
      if (opt == 'u')
	fd = atoi (list_optarg);
      else if (opt == 't')
	poll_only = strtod (list_optarg, NULL) == 0;
      else if (opt != 'a' && opt != 'c' && opt != 'd' && opt != 'e' && opt != 'i' && opt != 'n'
	       && opt != 'N' && opt != 'p' && opt != 'r' && opt != 's')
	fd = -1;	/* a usage error or --help: bash's own answer */
    }
  reset_internal_getopt ();
  if (fd != 0 || poll_only || sk_is_dev_null (0) == 0)
    return read_builtin (list);
  answers = open (input_answers, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  saved = answers < 0 ? -1 : fcntl (0, F_DUPFD_CLOEXEC, 10);
  if (saved < 0)
    {
      if (answers >= 0)
	close (answers);
      return read_builtin (list);
    }
  fcntl (answers, F_SETFL, fcntl (answers, F_GETFL) & ~O_NONBLOCK);
  dup2 (answers, 0);
  close (answers);
  begin_unwind_frame ("sandbox-kernel-read");
  add_unwind_protect (sk_restore_stdin, (char *)(intptr_t)saved);	/* an interrupt, too */
  sk_notify ();
  status = read_builtin (list);
  run_unwind_frame ("sandbox-kernel-read");
  return status;
}

static int
sk_run_cell (WORD_LIST *args)
{
  const char *path, *flags;
  char *text;
  int status, fd, count = 0;
  WORD_LIST *w;

  for (w = args; w; w = w->next)
    count++;
  if (count != 3 && count != 5)
    {
      builtin_error ("%s: usage: FILE STATUS FLAGS [ANSWERS NOTIFY]", SK_CELL);
      return EX_USAGE;
    }
  FREE (input_answers);
  FREE (input_notify);
  input_answers = input_notify = NULL;
  if (count == 5)
    {
      input_answers = savestring (args->next->next->next->word->word);
      input_notify = savestring (args->next->next->next->next->word->word);
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
  b = builtin_address_internal ("read", 1);
  if (b == NULL || b->function != read_builtin)
    return 0;
  b->function = sk_read;
  set_signal (SIGINT, SK_INT_TRAP);
  sk_forget_script ("BASH_SOURCE");
  sk_forget_script ("BASH_LINENO");
  sk_forget_script ("FUNCNAME");
  return 1;
}
