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

// The String and ID scalars are read through these functions (gqlgen.yml),
// so that every string argument and input field of the schema, today's and
// any added later, is validated as it is decoded, before a resolver sees
// it: valid UTF-8 without control characters (authz.ValidateText), newlines
// and tabs allowed in a String (free text such as a page body) but not in
// an ID. A NUL byte, which PostgreSQL refuses in text, is thus always
// BAD_USER_INPUT naming the argument, never a driver error. Lengths are
// each field's own, checked where the field is used.

// MarshalCheckedString writes the String scalar, as gqlgen does.
func MarshalCheckedString(s string) graphql.Marshaler { return graphql.MarshalString(s) }

// UnmarshalCheckedString reads the String scalar and validates it.
func UnmarshalCheckedString(v any) (string, error) {
	s, err := graphql.UnmarshalString(v)
	if err != nil {
		return "", err
	}
	return s, authz.ValidateText("", s, 0, true)
}

// MarshalCheckedID writes the ID scalar, as gqlgen does.
func MarshalCheckedID(s string) graphql.Marshaler { return graphql.MarshalID(s) }

// UnmarshalCheckedID reads the ID scalar and validates it: one line of
// text.
func UnmarshalCheckedID(v any) (string, error) {
	s, err := graphql.UnmarshalID(v)
	if err != nil {
		return "", err
	}
	return s, authz.ValidateText("", s, 0, false)
}
