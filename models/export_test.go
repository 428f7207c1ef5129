package models

// The statements, for the query-plan test in package models_test, which
// cannot live in package models because dbtest imports models.
const (
	LoadGrantsSQL                = loadGrantsSQL
	ProjectsWithPermSQL          = projectsWithPermSQL
	CountProjectsWithPermSQL     = countProjectsWithPermSQL
	UsersWithProjectPermSQL      = usersWithProjectPermSQL
	CountUsersWithProjectPermSQL = countUsersWithProjectPermSQL
)
