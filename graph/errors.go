package graph

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/grantql/grantql/authz"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Error codes of SPEC §4, carried in extensions.code.
const (
	CodeUnauthenticated     = "UNAUTHENTICATED"
	CodeForbidden           = "FORBIDDEN"
	CodeNotFound            = "NOT_FOUND"
	CodeBadUserInput        = "BAD_USER_INPUT"
	CodeMalformedPermission = "MALFORMED_PERMISSION"
	CodeUnknownPermission   = "UNKNOWN_PERMISSION"
	CodeConflict            = "CONFLICT"
	CodeUnavailable         = "UNAVAILABLE"
	CodeInternal            = "INTERNAL"
)

// codes maps the engine's error categories to GraphQL codes, in the order
// they are tried.
var codes = []struct {
	err  error
	code string
}{
	{authz.ErrUnauthenticated, CodeUnauthenticated},
	{authz.ErrForbidden, CodeForbidden},
	{authz.ErrNotFound, CodeNotFound},
	{authz.ErrMalformedPermission, CodeMalformedPermission},
	{authz.ErrUnknownPermission, CodeUnknownPermission},
	{authz.ErrInvalidInput, CodeBadUserInput},
	{authz.ErrConflict, CodeConflict},
	{authz.ErrUnavailable, CodeUnavailable},
}

// PresentError is the one place where errors become GraphQL errors. A
// known category keeps its message and gets its code (and, for a denial,
// the permission and project); anything else is logged with its cause and
// shown only as an internal error, so that no SQL or internals leak.
func PresentError(ctx context.Context, err error) *gqlerror.Error {
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) && gqlErr.Err == nil {
		// Produced by gqlgen itself (parse and validation errors) or
		// already presented: keep it, with a code if it has none.
		// Parse and validation errors (GRAPHQL_PARSE_FAILED,
		// GRAPHQL_VALIDATION_FAILED) are bad input in SPEC §4's terms.
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		switch gqlErr.Extensions["code"] {
		case nil, errcode.ParseFailed, errcode.ValidationFailed:
			gqlErr.Extensions["code"] = CodeBadUserInput
		}
		return gqlErr
	}
	out := graphql.DefaultErrorPresenter(ctx, err)
	if out.Extensions == nil {
		out.Extensions = map[string]any{}
	}
	for _, c := range codes {
		if !errors.Is(err, c.err) {
			continue
		}
		out.Extensions["code"] = c.code
		var denied *authz.DeniedError
		if errors.As(err, &denied) {
			out.Extensions["permission"] = denied.Perm
			if denied.Project != 0 {
				out.Extensions["project"] = formatID(denied.Project)
			}
		}
		if c.code == CodeUnavailable {
			logInternal(ctx, "storage unavailable", err)
			out.Message = "the service cannot reach its database; try again later"
		}
		return out
	}
	logInternal(ctx, "internal error", err)
	out.Message = "internal error"
	out.Extensions["code"] = CodeInternal
	return out
}

// RecoverPanic turns a resolver's panic into an internal error, logged.
func RecoverPanic(ctx context.Context, p any) error {
	slog.ErrorContext(ctx, "panic in resolver", "panic", p)
	return errors.New("internal error")
}

func logInternal(ctx context.Context, msg string, err error) {
	attrs := []any{"error", err}
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		attrs = append(attrs, "path", fc.Path().String())
	}
	slog.ErrorContext(ctx, msg, attrs...)
}

// writeHTTPError writes a GraphQL-shaped error response outside gqlgen.
func writeHTTPError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": message, "extensions": map[string]any{"code": code}}},
	})
}
