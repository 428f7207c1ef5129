// Command api is the grantql server and its administration commands:
//
//	api [serve]                      serve GraphQL (the default)
//	api migrate up|down|status       apply, roll back or list migrations
//	api createsuperuser --username N create an active superuser and print its token
//	api seed [flags]                 bulk-load a benchmark dataset and write a workload
//	api version                      print the version
//
// It is wiring only: configuration, database, engine, handler, server.
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

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "error:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: api [command] [flags]

commands:
  serve                         serve GraphQL (the default)
  migrate up|down|status        apply, roll back one, or list migrations
  createsuperuser --username N  create an active superuser; print its token on the last line
  seed [flags]                  bulk-load a benchmark dataset into an empty database; write a workload
  version                       print the version

Run "api COMMAND -h" for a command's flags.
`

// run dispatches to a subcommand; it is main without the process exit, so
// that tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "migrate":
		return migrate(ctx, args, stdout, stderr)
	case "createsuperuser":
		return createSuperuser(ctx, args, stdout, stderr)
	case "seed":
		return seed(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "grantql", version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}
