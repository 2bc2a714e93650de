// Command bedrock-relay is the CLI of bedrock-relay: the offline sandbox, the demo, one-off invocations, IAM
// policy and template generation, setup checks and the relay server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// env is what every subcommand gets from the outside world, injected so tests can run commands in-process.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand. Each lives in its own file and registers itself in commands.
type command struct {
	name     string
	synopsis string
	run      func(ctx context.Context, e *env, args []string) error
}

var commands = map[string]command{}

func register(c command) { commands[c.name] = c }

// errUsage marks a usage error, exit code 2. Returned bare, the command has printed the message; wrapped in a
// usageError (usagef), exitCode prints it.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args = append([]string{"version"}, args[1:]...)
	}
	if len(args) > 1 && args[0] == "help" {
		// help CMD is CMD -h, so that both print the same usage and flags.
		if len(args) > 2 {
			fmt.Fprintf(stderr, "bedrock-relay help: unexpected argument %q\n", args[2])
			return errUsage
		}
		return run(ctx, []string{args[1], "-h"}, getenv, stdin, stdout, stderr)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "bedrock-relay: unknown command %q\n\n", args[0])
		usage(stderr)
		return errUsage
	}
	if err := c.run(ctx, e, args[1:]); err != nil && !errors.Is(err, errHelp) {
		return err
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: bedrock-relay <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].synopsis)
	}
	fmt.Fprintln(w, "\nRun 'bedrock-relay help <command>' (or 'bedrock-relay <command> -h') for a command's flags.")
}

func exitCode(err error, stderr io.Writer) int {
	code := 1
	switch {
	case err == nil:
		return 0
	case errors.As(err, new(*usageError)):
		code = 2 // printed below
	case errors.Is(err, errUsage):
		return 2 // the command has printed what was wrong
	case errors.Is(err, context.Canceled):
		return 130
	}
	msg := err.Error()
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(stderr, "bedrock-relay: "+msg)
	return code
}

// usageError is a usage error that carries its message instead of having printed it: a flag's value that
// the command cannot use. exitCode prints it and exits 2, as for any usage error.
type usageError struct{ err error }

func (u *usageError) Error() string   { return u.err.Error() }
func (u *usageError) Unwrap() []error { return []error{errUsage, u.err} }

// usagef makes a usageError; %w keeps the cause for errors.Is.
func usagef(format string, args ...any) error { return &usageError{fmt.Errorf(format, args...)} }

// newFlags makes a subcommand's flag set; errors and -h output go to the command's stderr.
func newFlags(e *env, name, synopsis string) *flagSet {
	fs := flag.NewFlagSet("bedrock-relay "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: bedrock-relay %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return &flagSet{FlagSet: fs}
}

type flagSet struct{ *flag.FlagSet }

// parse parses args; -h is not an error (errHelp is returned so the command returns nil), a bad flag is errUsage.
func (fs *flagSet) parse(args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return errUsage
	}
	return nil
}

// parseNoArgs parses args, which must all be flags: a command that takes no arguments says so about the
// first one instead of ignoring it.
func (fs *flagSet) parseNoArgs(args []string) error {
	if err := fs.parse(args); err != nil {
		return err
	}
	return fs.noArgs()
}

// noArgs is a usage error naming the first argument left after the flags, if any.
func (fs *flagSet) noArgs() error {
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	return nil
}

// errHelp means -h was asked for and printed; commands return nil for it.
var errHelp = errors.New("help shown")
