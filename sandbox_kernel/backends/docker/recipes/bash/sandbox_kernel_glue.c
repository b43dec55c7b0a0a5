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
 * - wraps the `source` builtin: `source --sandbox-kernel-cell FILE STATUS FLAGS STDIN STDOUT
 *   STDERR EVENTS` runs FILE as a cell: bash's `parse_and_execute` (as `eval` does) with line
 *   numbers from 1, the file named "bash", one level of indirection less, `$?` set to STATUS,
 *   the options e, v, x of FLAGS turned on, and descriptors 0, 1 and 2 opened on the three paths
 *   (then /dev/null and EVENTS again); between cells it holds what the user's last command left
 *   (`$_`, PIPESTATUS) and the user's DEBUG and ERR traps, so that the driver's own commands
 *   change or run none of them. `source --sandbox-kernel-interrupt` (the driver's SIGINT trap)
 *   ends the running cell as an interactive shell ends a command on ^C (`throw_to_top_level`),
 *   status 130. Any other use of `source` is bash's own;
 * - wraps `read`: two more words after EVENTS, ANSWERS NOTIFY (paths), turn on input for the
 *   `read` builtin where the driver cannot see a blocked read (gVisor has no /proc/PID/syscall):
 *   a `read` of the cell's own stdin (there a pipe with no writer) writes a line to NOTIFY,
 *   unless part of an answer is still waiting (the driver then sends an input request), and
 *   reads from ANSWERS instead, where the answer, or the end of input, arrives. Other programs,
 *   and reads of anything else, read what they would.
 *
 * The names of the builtins, their help and their flags stay bash's; `enable -d trap` would
 * succeed where it fails for a static builtin (the one trace left). It uses symbols that Debian's
 * bash 5.2 exports for loadable builtins; the driver checks that loading worked and otherwise
 * falls back to its shell-only runner (drivers/bash_driver.sh says what that one shows). */
#include <config.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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
extern void restore_default_signal (int);
extern char *get_string_value (const char *);
extern SHELL_VAR *bind_variable (const char *, char *, int);
extern ARRAY *save_pipestatus_array (void);
extern void restore_pipestatus_array (ARRAY *);

#define SK_INT_TRAP "{ \\builtin source --sandbox-kernel-interrupt; } 2>/dev/null"
#define SK_CELL "--sandbox-kernel-cell"
#define SK_INTERRUPT "--sandbox-kernel-interrupt"
#define SK_MAX_CELL (64 * 1024 * 1024)
#define SK_DEBUG_TRAP NSIG	/* bash's trap.h, not among the installed headers */
#define SK_ERROR_TRAP (NSIG + 1)

static int cell_running;
static char *input_answers, *input_notify;	/* a cell's input paths, or NULL */
static ino_t cell_stdin;	/* the inode of the cell's own stdin pipe, or 0 */

/* What the user's last command left, held while the driver's commands run between cells, so
   that they neither change it nor run the user's DEBUG or ERR trap: `$_`, PIPESTATUS, and
   those two traps (taken off between cells, put back when the next cell starts). */
static char *held_underscore, *held_debug, *held_err;
static ARRAY *held_pipestatus;

static char *
sk_take_trap (int sig)
{
  char *t = trap_list[sig];

  if (signal_is_trapped (sig) == 0 || t == (char *)SIG_DFL || t == (char *)SIG_IGN)
    return NULL;
  t = savestring (t);
  restore_default_signal (sig);
  return t;
}

static void
sk_hold_state (void)
{
  char *u = get_string_value ("_");

  if (held_pipestatus == NULL)
    held_pipestatus = save_pipestatus_array ();
  if (held_underscore == NULL && u)
    held_underscore = savestring (u);
  if (held_debug == NULL)
    held_debug = sk_take_trap (SK_DEBUG_TRAP);
  if (held_err == NULL)
    held_err = sk_take_trap (SK_ERROR_TRAP);
}

static void
sk_release_state (void)
{
  if (held_debug)
    set_signal (SK_DEBUG_TRAP, held_debug);
  if (held_err)
    set_signal (SK_ERROR_TRAP, held_err);
  FREE (held_debug);
  FREE (held_err);
  held_debug = held_err = NULL;
  if (held_underscore)
    bind_variable ("_", held_underscore, 0);
  FREE (held_underscore);
  held_underscore = NULL;
  if (held_pipestatus)
    restore_pipestatus_array (held_pipestatus);	/* which takes it */
  held_pipestatus = NULL;
}

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

/* Whether fd is the cell's own stdin (a pipe of its own, with no writer: end of input for any
   other reader), not /dev/null or a file given by a redirection, nor a background job's. */
static int
sk_is_cell_stdin (int fd)
{
  struct stat st;

  return cell_stdin != 0 && fstat (fd, &st) == 0 && S_ISFIFO (st.st_mode)
	 && st.st_ino == cell_stdin;
}

/* `read`: bash's own, fed from the cell's answers when it reads the cell's standard input and
   the cell has input paths (see the top of this file). Its options are parsed as read does. */
static int
sk_read (WORD_LIST *list)
{
  int opt, fd = 0, poll_only = 0, answers, saved, status, waiting;

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
  if (fd != 0 || poll_only || sk_is_cell_stdin (0) == 0)
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
  if (ioctl (answers, FIONREAD, &waiting) < 0)
    waiting = 0;
  dup2 (answers, 0);
  close (answers);
  begin_unwind_frame ("sandbox-kernel-read");
  add_unwind_protect (sk_restore_stdin, (char *)(intptr_t)saved);	/* an interrupt, too */
  if (waiting <= 0)
    sk_notify ();	/* the rest of an earlier answer is read first, as from a terminal */
  status = read_builtin (list);
  run_unwind_frame ("sandbox-kernel-read");
  return status;
}

/* Open path as descriptor target (not close-on-exec), or -1. Under a descriptor limit that
   leaves no room (`ulimit -n 3`), target is closed first and takes its place. */
static int
sk_redirect (const char *path, int target, int flags)
{
  int fd = open (path, flags | O_CLOEXEC);

  if (fd < 0 && errno == EMFILE)
    {
      close (target);
      fd = open (path, flags | O_CLOEXEC);
    }
  if (fd < 0)
    return -1;
  if (fd == target)
    return fcntl (fd, F_SETFD, 0);
  if (dup2 (fd, target) < 0)
    {
      close (fd);
      return -1;
    }
  close (fd);
  return 0;
}

static char *events;	/* the shell's own stdout and stderr between cells (a path) */

/* After a cell, or when an interrupt unwinds it: the shell's descriptors between cells. A shell
   that cannot get them back (`ulimit -n 2`) could no longer tell the driver anything: it says so
   on the cell's stderr and ends, and the driver reports the sandbox's end. */
static void
sk_back_to_events (char *unused)
{
  static const char lost[] = "sandbox-kernel: the shell cannot open its own descriptors any "
    "more (a descriptor limit too low: ulimit -n); this sandbox is replaced (state from earlier "
    "cells is lost)\n";
  ssize_t n;

  (void)unused;
  sk_hold_state ();
  cell_stdin = 0;
  fflush (stdout);
  fflush (stderr);
  if (sk_redirect ("/dev/null", 0, O_RDONLY) < 0 || events == NULL
      || sk_redirect (events, 1, O_WRONLY) < 0 || dup2 (1, 2) < 0)
    {
      n = write (2, lost, sizeof lost - 1);
      (void)n;
      _exit (1);
    }
}

/* FILE STATUS FLAGS STDIN STDOUT STDERR EVENTS [ANSWERS NOTIFY]: see the top of this file. The
   cell's descriptors are opened here, not saved (bash would keep copies, on 10 to 12, where the
   cell could list them): between cells the shell's are /dev/null and EVENTS. */
static int
sk_run_cell (WORD_LIST *args)
{
  char *arg[9], *text;
  const char *flags;
  int status, fd, count = 0;
  struct stat st;

  for (; args && count < 9; args = args->next)
    arg[count++] = args->word->word;
  if (args || (count != 7 && count != 9))
    {
      builtin_error ("%s: usage: FILE STATUS FLAGS STDIN STDOUT STDERR EVENTS [ANSWERS NOTIFY]",
		     SK_CELL);
      return EX_USAGE;
    }
  FREE (input_answers);
  FREE (input_notify);
  FREE (events);
  input_answers = input_notify = NULL;
  events = savestring (arg[6]);
  if (count == 9)
    {
      input_answers = savestring (arg[7]);
      input_notify = savestring (arg[8]);
    }
  text = sk_read_file (arg[0]);
  if (text == NULL)
    {
      builtin_error ("%s: cannot read", arg[0]);
      return EXECUTION_FAILURE;
    }
  fflush (stdout);
  fflush (stderr);
  /* (not blocking to open: a pipe with no writer would wait for one) */
  if (sk_redirect (arg[3], 0, O_RDONLY | O_NONBLOCK) < 0
      || fcntl (0, F_SETFL, fcntl (0, F_GETFL) & ~O_NONBLOCK) < 0
      || sk_redirect (arg[4], 1, O_WRONLY) < 0
      || sk_redirect (arg[5], 2, O_WRONLY) < 0)
    {
      xfree (text);
      sk_back_to_events (NULL);
      return EXECUTION_FAILURE;	/* the file stays whole: the driver says the cell did not run */
    }
  /* Emptied: the driver's proof that this shell ran the cell. */
  fd = open (arg[0], O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd >= 0)
    close (fd);
  if (fstat (0, &st) == 0 && S_ISFIFO (st.st_mode))
    cell_stdin = st.st_ino;
  sk_default_int ();
  sk_release_state ();
  for (flags = arg[2]; *flags; flags++)
    if (*flags == 'e' || *flags == 'v' || *flags == 'x')
      change_flag (*flags, FLAG_ON);
  set_shellopts ();
  last_command_exit_value = atoi (arg[1]);
  begin_unwind_frame ("sandbox-kernel-cell");
  add_unwind_protect (sk_back_to_events, NULL);
  cell_running = 1;
  indirection_level--;	/* parse_and_execute adds one: the cell traces with one `+` */
  status = parse_and_execute (text, "bash", SEVAL_NOHIST | SEVAL_RESETLINE);
  indirection_level++;
  cell_running = 0;
  run_unwind_frame ("sandbox-kernel-cell");
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
  held_underscore = savestring (get_string_value ("BASH") ? get_string_value ("BASH") : "bash");
  return 1;	/* `$_` at the first cell: the shell's path, as in a fresh bash */
}
