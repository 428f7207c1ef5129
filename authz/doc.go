// Package authz is grantql's decision engine: Django's permission model
// (permissions named app_label.codename, held by users directly or through
// groups, superusers, inactive users who hold nothing) scoped to projects.
//
// The engine decides with an ordered chain of backends, answers reverse
// questions ("which projects may U edit?", "who may view pages here?"),
// and manages grants. Below the project, object-level rules (olp.go) decide
// on single objects: Go functions registered on the engine (rules.go, with
// the built-in Page rules) and CEL expressions kept in a RuleStore (cel.go).
// Every check can leave a decision log (decisionlog.go), handed to a
// LogSink off the check's critical path. The engine imports neither gqlgen
// nor gorm: it reads and writes through the Store interface, which package
// models implements.
package authz
