// Package migrations holds grantql's versioned SQL schema, one folder per
// dialect, embedded in the binary and applied with goose.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// FS returns the migrations of one dialect: "postgres" or "sqlite".
func FS(dialect string) (fs.FS, error) {
	return fs.Sub(files, dialect)
}
