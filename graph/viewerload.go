package graph

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/authz/gqlauthz"
	"github.com/vektah/gqlparser/v2/ast"
)

// maxLoadProjects bounds the projects whose grants a token's look-up
// loads; a check over more loads its own.
const maxLoadProjects = 100

// operationLoad returns the grants the first check of the operation in ctx
// will read, as far as a query of one root field says: the subject and the
// projects of hasProjectPerm, check and checkMany, and the viewer in the
// project of project(id). Anything else, or an argument that is not a
// valid id, loads nothing: resolvers still check everything themselves,
// and a load no check reads is only wasted.
func operationLoad(ctx context.Context) authz.ViewerLoad {
	opCtx := graphql.GetOperationContext(ctx)
	if opCtx.Operation == nil || opCtx.Operation.Operation != ast.Query {
		return authz.ViewerLoad{}
	}
	fields := graphql.CollectFields(opCtx, opCtx.Operation.SelectionSet, []string{"Query"})
	if len(fields) != 1 {
		return authz.ViewerLoad{}
	}
	args := fields[0].ArgumentMap(opCtx.Variables)
	switch fields[0].Name {
	case "hasProjectPerm":
		return checksLoad([]any{args})
	case "check":
		return checksLoad([]any{args["input"]})
	case "checkMany":
		inputs, _ := args["inputs"].([]any)
		return checksLoad(inputs)
	case "project":
		if id, ok := idValue(args["id"]); ok {
			return authz.ViewerLoad{Projects: []int64{id}}
		}
	}
	return authz.ViewerLoad{}
}

// checksLoad returns the load of checks given as maps with the optional
// user and project of CheckInput: the first check's subject (nothing when
// it is not a valid id), in the projects of the checks about it.
func checksLoad(checks []any) authz.ViewerLoad {
	var load authz.ViewerLoad
	for i, c := range checks {
		in, _ := c.(map[string]any)
		user, ok := int64(0), true // no user: the viewer
		if in["user"] != nil {
			user, ok = idValue(in["user"])
		}
		switch {
		case !ok && i == 0:
			return authz.ViewerLoad{}
		case !ok:
			continue
		case i == 0:
			load.User = user
		case user != load.User:
			continue
		}
		if p, ok := idValue(in["project"]); ok && !slices.Contains(load.Projects, p) {
			load.Projects = append(load.Projects, p)
		}
	}
	if len(load.Projects) > maxLoadProjects {
		load.Projects = nil
	}
	return load
}

// idValue reads an id argument as the directive does; ok is false for
// anything but a positive integer.
func idValue(v any) (int64, bool) {
	id, err := gqlauthz.ParseID("", v)
	return id, err == nil
}
