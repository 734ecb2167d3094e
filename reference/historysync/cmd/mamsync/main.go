package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses; see the package documentation.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], console{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// console is what a run reads from and writes to.
type console struct {
	stdin          *os.File // for the password prompt
	stdout, stderr io.Writer
	getenv         func(string) string
}

// run runs mamsync with the command line args (without the program name)
// and returns the exit status. It ends early, keeping what was stored, when
// ctx is cancelled.
func run(ctx context.Context, args []string, con console) int {
	cfg, err := parseConfig(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(con.stdout, usageText)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(con.stderr, "mamsync: %v\nRun mamsync -h for usage.\n", err)
		return exitUsage
	}
	if cfg.export != "" {
		err = runExport(ctx, cfg, con.stdout)
	} else {
		err = runSync(ctx, cfg, con)
	}
	var failed archiveFailures
	switch {
	case err == nil:
		return exitOK
	case ctx.Err() != nil:
		fmt.Fprintln(con.stderr, "mamsync: interrupted; what was fetched is stored, run mamsync again to resume")
		return exitInterrupted
	case errors.As(err, &failed):
		for _, r := range failed {
			fmt.Fprintf(con.stderr, "mamsync: %s: %v\n", r.Archive, r.Err)
		}
		return exitFailed
	default:
		fmt.Fprintf(con.stderr, "mamsync: %v\n", err)
		return exitFailed
	}
}
