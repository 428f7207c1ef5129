package graph

import (
	"github.com/99designs/gqlgen/graphql"
	"github.com/grantql/grantql/authz"
)

// MarshalJSONObject writes the JSON scalar: an object.
func MarshalJSONObject(v map[string]any) graphql.Marshaler { return graphql.MarshalMap(v) }

// UnmarshalJSONObject reads the JSON scalar, which must be an object; any
// other value is the client's mistake, refused as BAD_USER_INPUT.
func UnmarshalJSONObject(v any) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, authz.InvalidInput("a JSON value must be an object, not %s", jsonKind(v))
	}
	return m, nil
}

// jsonKind names the kind of a decoded JSON or GraphQL value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	default:
		return "a number"
	}
}
