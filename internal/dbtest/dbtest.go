// Package dbtest gives tests fresh, migrated databases: an SQLite file in a
// temporary folder always, and a PostgreSQL database created for the test
// and dropped after it when TEST_DATABASE_URL is set. When the variable is
// set and PostgreSQL cannot be reached, tests fail rather than skip.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/grantql/grantql/models"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// EnvPostgres names the variable that holds the PostgreSQL server's address.
const EnvPostgres = "TEST_DATABASE_URL"

// Dialects returns the dialects tests run on: SQLite, and PostgreSQL when
// TEST_DATABASE_URL is set.
func Dialects() []string {
	if os.Getenv(EnvPostgres) != "" {
		return []string{models.SQLite, models.Postgres}
	}
	return []string{models.SQLite}
}

// Run runs f as a subtest once per dialect, each with its own fresh,
// migrated database.
func Run(t *testing.T, f func(t *testing.T, db *models.DB)) {
	t.Helper()
	for _, d := range Dialects() {
		t.Run(d, func(t *testing.T) { f(t, Open(t, d)) })
	}
}

// Open returns a fresh, migrated database of the dialect, removed when the
// test ends.
func Open(t testing.TB, dialect string) *models.DB {
	t.Helper()
	db := OpenEmpty(t, dialect)
	m, err := models.NewMigrator(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// OpenEmpty returns a fresh database of the dialect with no tables.
func OpenEmpty(t testing.TB, dialect string) *models.DB {
	t.Helper()
	url := URL(t, dialect)
	db, err := models.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// URL returns the address of a fresh, empty database of the dialect.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case models.SQLite:
		return filepath.Join(t.TempDir(), "grantql.db")
	case models.Postgres:
		return createPostgres(t)
	}
	t.Fatalf("unknown dialect %q", dialect)
	return ""
}

func createPostgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Fatalf("%s is not set", EnvPostgres)
	}
	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("PostgreSQL at %s is unreachable: %v", EnvPostgres, err)
	}
	sqlAdmin, _ := admin.DB()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sqlAdmin.PingContext(ctx); err != nil {
		sqlAdmin.Close()
		t.Fatalf("PostgreSQL at %s is unreachable: %v", EnvPostgres, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "grantql_test_" + hex.EncodeToString(b)
	if err := admin.Exec("CREATE DATABASE " + name).Error; err != nil {
		sqlAdmin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer sqlAdmin.Close()
		if err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error; err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// MustExec runs statements on db, failing the test on error. It is for
// setting up data that the public API has no way to make.
func MustExec(t testing.TB, db *models.DB, sql string, args ...any) {
	t.Helper()
	if err := db.Gorm.Exec(sql, args...).Error; err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Name returns a short random name, for tests that need unique names.
func Name(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s_%s", prefix, hex.EncodeToString(b))
}
