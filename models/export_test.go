package models

import (
	"testing"

	"github.com/grantql/grantql/authz"
)

// The statements, for the query-plan test in package models_test, which
// cannot live in package models because dbtest imports models.
const (
	ProjectsWithPermSQL          = projectsWithPermSQL
	CountProjectsWithPermSQL     = countProjectsWithPermSQL
	UsersWithProjectPermSQL      = usersWithProjectPermSQL
	CountUsersWithProjectPermSQL = countUsersWithProjectPermSQL
)

// LoadGrantsSQL is the statement of a check of one user in n projects.
func LoadGrantsSQL(n int) string { return loadGrantsSQL(n) }

// ViewerStatement is the statement of a token's look-up of hash that
// loads also, with its arguments.
func ViewerStatement(hash string, also authz.ViewerLoad) (string, []any) {
	return viewerStatement(hash, also)
}

// SetPurgeChunk makes PurgeDecisionLogs delete n logs per statement until
// the test ends.
func SetPurgeChunk(t testing.TB, n int) {
	old := purgeChunk
	purgeChunk = n
	t.Cleanup(func() { purgeChunk = old })
}
