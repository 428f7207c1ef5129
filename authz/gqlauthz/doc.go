// Package gqlauthz plugs the authz engine into a gqlgen server as the
// @hasProjectPerm schema directive:
//
//	directive @hasProjectPerm(perm: String!, project: String) on FIELD_DEFINITION
//
// perm is the permission the viewer needs; project names the field
// argument that holds the project id (a dotted path such as input.project
// reaches into input objects), and when it is omitted the project comes
// from the parent object, which must implement InProject.
//
// A denied field resolves to null with an error whose extensions carry
// code FORBIDDEN, permission and project; no viewer gives UNAUTHENTICATED.
// The guard batches: when a guarded field sits under a list, the projects
// of every element of that list are loaded with one statement, so a list of
// N guarded items over M projects costs one statement, not N or M.
//
// Validate checks every use of the directive in a schema at start-up.
package gqlauthz
