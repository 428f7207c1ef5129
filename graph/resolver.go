// Package graph is grantql's GraphQL layer: it translates GraphQL requests
// into engine calls and engine answers into GraphQL. Resolvers stay thin;
// errors become GraphQL codes in one presenter (errors.go).
package graph

//go:generate go tool gqlgen generate

import (
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/models"
)

// Resolver holds what every resolver needs: the decision engine, the
// store for plain reads, and the limits of requests (zero fields take
// their defaults).
type Resolver struct {
	Engine *authz.Engine
	Store  *models.Store
	Limits Limits
}
