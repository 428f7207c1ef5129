package models

import "testing"

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

// SetPurgeChunk makes PurgeDecisionLogs delete n logs per statement until
// the test ends.
func SetPurgeChunk(t testing.TB, n int) {
	old := purgeChunk
	purgeChunk = n
	t.Cleanup(func() { purgeChunk = old })
}
