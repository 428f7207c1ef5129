package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of the revision pool
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// DB is an open database: the gorm handle and its dialect.
type DB struct {
	Gorm    *gorm.DB
	Dialect string
	// url is the address Open was given; the revision feed opens its own
	// connection with it.
	url string
	// revision is a pool of one connection of its own, on which the
	// shared cache reads the revision (Store.Revision).
	revision *sql.DB
}

// sqliteBusyTimeout is how long an SQLite writer waits for the lock held by
// another writer (the decision-log writer, say) before failing: long enough
// to ride out any batch this service writes.
const sqliteBusyTimeout = 5 * time.Second

// Open opens the database named by url: a postgres:// or postgresql:// URL
// selects PostgreSQL; anything else is an SQLite file path (a "file:" or
// "sqlite:" prefix is allowed). SQLite is opened in WAL mode with a busy
// timeout, immediate transactions and foreign keys on, so that concurrent
// writers wait instead of failing with "database is locked" and deletes
// cascade.
func Open(url string) (*DB, error) {
	cfg := &gorm.Config{TranslateError: true, Logger: logger.Discard, PrepareStmt: false, NowFunc: now}
	var (
		gdb     *gorm.DB
		err     error
		dialect string
	)
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		dialect = Postgres
		gdb, err = gorm.Open(postgres.Open(url), cfg)
	} else {
		dialect = SQLite
		gdb, err = gorm.Open(sqlite.Open(sqliteDSN(url)), cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if err := registerCounter(gdb); err != nil {
		return nil, fmt.Errorf("register statement counter: %w", err)
	}
	sqlDB, err := gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if dialect == SQLite {
		// One writer at a time is all SQLite allows; a small pool keeps
		// readers concurrent in WAL mode.
		sqlDB.SetMaxOpenConns(8)
	} else {
		sqlDB.SetMaxOpenConns(postgresConns())
		sqlDB.SetMaxIdleConns(postgresConns())
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	revision, err := openRevisionPool(dialect, url)
	if err != nil {
		sqlDB.Close()
		return nil, err
	}
	return &DB{Gorm: gdb, Dialect: dialect, url: url, revision: revision}, nil
}

// openRevisionPool opens the pool of one connection on which the shared
// cache polls the revision. On the requests' pool, the poll waited for a
// connection behind every check and every decision-log batch: when they
// held all of them longer than the poll's timeout, the poll failed and
// the cache stopped serving every client, just when the service was
// busiest. With a connection of its own, like the revision feed's, the
// poll waits only for the database. It connects on first use.
func openRevisionPool(dialect, url string) (*sql.DB, error) {
	driver, dsn := "pgx", url
	if dialect == SQLite {
		driver, dsn = sqlite.DriverName, sqliteDSN(url)
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("open the %s revision connection: %w", dialect, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// connsPerCPU is how many PostgreSQL connections Open allows for each CPU
// the process may use.
const connsPerCPU = 4

// postgresConns is the bound Open puts on a PostgreSQL pool: 4
// connections for each CPU the process may use (GOMAXPROCS). More only add
// backends that take turns on the CPUs: on 2 cores the check statement
// cost PostgreSQL 288 µs of CPU with one client and 657 µs with 32, and a
// server bounded to 8 connections answered the default workloads faster
// than one bounded to 32 (docs/benchmarks.md, "A pool the size of the
// machine").
func postgresConns() int {
	return connsPerCPU * runtime.GOMAXPROCS(0)
}

// now is the time gorm and this package store in created_at columns: UTC,
// because SQLite compares times as text and a local offset would sort
// wrongly; whole microseconds, because that is what PostgreSQL keeps, so
// that both dialects give back the time they were given.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// sqlitePath returns the file path of an SQLite address.
func sqlitePath(url string) string {
	path := strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return path
}

func sqliteDSN(url string) string {
	path := sqlitePath(url)
	return fmt.Sprintf("file:%s?_txlock=immediate&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(%d)&_pragma=synchronous(NORMAL)",
		path, sqliteBusyTimeout.Milliseconds())
}

// File returns the absolute path of an SQLite database's file, and ""
// for PostgreSQL.
func (db *DB) File() string {
	if db.Dialect != SQLite {
		return ""
	}
	path := sqlitePath(db.url)
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// Identity names the database without credentials: the SQLite file's
// absolute path, or PostgreSQL's host, port and database name. Two
// processes given the same database have the same identity.
func (db *DB) Identity() string {
	if db.Dialect == SQLite {
		return "sqlite:" + db.File()
	}
	u, err := url.Parse(db.url)
	if err != nil {
		// Open accepted it: pgx parses more than net/url does. Never
		// the password: only what precedes it is kept.
		return "postgres:" + strings.SplitN(db.url, ":", 3)[1]
	}
	return "postgres://" + u.Host + u.Path
}

// SQL returns the underlying database/sql handle.
func (db *DB) SQL() *sql.DB {
	s, _ := db.Gorm.DB() // cannot fail: Open checked it
	return s
}

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.SQL().PingContext(ctx)
}

// Close closes the database.
func (db *DB) Close() error {
	return errors.Join(db.revision.Close(), db.SQL().Close())
}
