package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// config is the service's configuration: each setting is a flag whose
// default comes from an environment variable.
type config struct {
	addr        string
	databaseURL string
	logLevel    string
	logFormat   string
	autoMigrate bool
}

// Defaults: loopback only, so that a fresh `make run` is not reachable from
// the network; an SQLite file in the working directory, so that it needs no
// database server.
const (
	defaultAddr        = "127.0.0.1:8080"
	defaultDatabaseURL = "grantql.db"
)

func env(name, fallback string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return fallback
}

// flags registers the settings every command shares on fs.
func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.databaseURL, "database-url", env("DATABASE_URL", defaultDatabaseURL),
		"database: a postgres:// URL, or an SQLite file path (env DATABASE_URL)")
	fs.StringVar(&c.logLevel, "log-level", env("GRANTQL_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env GRANTQL_LOG_LEVEL)")
	fs.StringVar(&c.logFormat, "log-format", env("GRANTQL_LOG_FORMAT", "text"), "log format: text or json (env GRANTQL_LOG_FORMAT)")
}

// logger builds the slog logger the settings describe, writing to w.
func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(c.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.logFormat)
}

func parseBool(name string, fallback bool) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	return fallback
}
