package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/grantql/grantql/authz"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// LimitDecisionLogRate is the extensions.limit of a check refused because
// its caller's decision logs are over --decision-log-rate.
const LimitDecisionLogRate = "decisionLogRate"

// Error codes, carried in extensions.code; docs/api.md lists them with
// when each is answered.
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
	var limit *LimitError
	if errors.As(err, &limit) {
		// Over a limit: refused before it ran (a document's limits) or
		// before the resolver did anything (checkMany's).
		out := graphql.DefaultErrorPresenter(ctx, err)
		out.Message = limit.Error()
		out.Extensions = limitExtensions(limit)
		return out
	}
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) && gqlErr.Err == nil {
		// Produced by gqlgen itself (parse and validation errors) or
		// already presented: keep it, with a code if it has none.
		// Parse and validation errors (GRAPHQL_PARSE_FAILED,
		// GRAPHQL_VALIDATION_FAILED) are bad input in docs/api.md's terms.
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
	var rate *authz.LogRateError
	if errors.As(err, &rate) {
		// The caller's decision logs are over their rate: not answered,
		// nothing logged; the client may send it again later. Not an
		// outage, so not logged as one.
		out.Message = rate.Error()
		out.Extensions["code"] = CodeUnavailable
		out.Extensions["limit"] = LimitDecisionLogRate
		if rate.RetryAfter > 0 {
			out.Extensions["retryAfterSeconds"] = math.Ceil(rate.RetryAfter.Seconds()*1000) / 1000
		}
		return out
	}
	var text *authz.TextError
	if errors.As(err, &text) && text.Field == "" {
		// Refused as the String and ID scalars decoded it (scalars.go):
		// the argument is the end of the error's path.
		out.Message = argumentName(ctx, out.Path) + " " + text.Problem
	}
	var refused *authz.RefusedError
	if errors.As(err, &refused) {
		// A credential refused in the middle of the request (an API
		// token that expired): why, as the 401 of a refused request says.
		out.Extensions["reason"] = refused.Reason
	}
	for _, c := range codes {
		if !errors.Is(err, c.err) {
			continue
		}
		out.Extensions["code"] = c.code
		var bound *authz.LimitError
		if errors.As(err, &bound) {
			out.Extensions["limit"], out.Extensions["max"] = bound.Limit, bound.Max
		}
		var denied *authz.DeniedError
		if errors.As(err, &denied) {
			out.Extensions["permission"] = denied.Needed()
			if denied.Project != 0 {
				out.Extensions["project"] = formatID(denied.Project)
			}
		}
		if c.code == CodeUnavailable {
			logInternal(ctx, "storage unavailable", err)
			out.Message = unavailableMessage(ctx, err)
		}
		return out
	}
	if deadlinePassed(ctx, err) {
		// The request's deadline cut a statement short, and the driver
		// said so in its own words: fail closed, as for a lost database.
		logInternal(ctx, "deadline passed", err)
		out.Message = unavailableMessage(ctx, err)
		out.Extensions["code"] = CodeUnavailable
		return out
	}
	logInternal(ctx, "internal error", err)
	out.Message = "internal error"
	out.Extensions["code"] = CodeInternal
	return out
}

// argumentName names, for a message, the argument or input field at the
// end of path, the path of an error raised while decoding a field's
// arguments: the part of it after the field's own path ("input.title").
func argumentName(ctx context.Context, path ast.Path) string {
	n := 0
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		n = len(fc.Path())
	}
	if n >= len(path) {
		return "a string"
	}
	var b strings.Builder
	for i, p := range path[n:] {
		switch p := p.(type) {
		case ast.PathIndex:
			fmt.Fprintf(&b, "[%d]", int(p))
		case ast.PathName:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(string(p))
		}
	}
	return b.String()
}

// errorCode returns the code of err's category, CodeInternal for an error
// of none: the code the presenter gives it, for the checks' metrics.
func errorCode(err error) string {
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return CodeUnavailable
	}
	return CodeInternal
}

// deadlinePassed reports whether err comes from the request's deadline.
func deadlinePassed(ctx context.Context, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// unavailableMessage says why an UNAVAILABLE error happened, without its
// internal cause.
func unavailableMessage(ctx context.Context, err error) string {
	if deadlinePassed(ctx, err) {
		return "the request ran out of time before the service could answer; try again later"
	}
	return "the service cannot reach its database; try again later"
}

// limitExtensions are the extensions of an error over a limit: the code,
// which limit, and its bound.
func limitExtensions(e *LimitError) map[string]any {
	ext := map[string]any{"code": CodeBadUserInput, "limit": e.Limit}
	if e.Max > 0 {
		ext["max"] = e.Max
	}
	return ext
}

// recoverPanic turns a resolver's panic into an internal error, logged
// with its stack (and, through LogHandler, the request id) by logger.
func recoverPanic(ctx context.Context, logger *slog.Logger, p any) error {
	logger.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
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
	writeErrorResponse(w, status, message, map[string]any{"code": code})
}

// writeLimitError writes, outside gqlgen, the error of a request over a
// limit.
func writeLimitError(w http.ResponseWriter, status int, e *LimitError) {
	writeErrorResponse(w, status, e.Error(), limitExtensions(e))
}

func writeErrorResponse(w http.ResponseWriter, status int, message string, extensions map[string]any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]any{{"message": message, "extensions": extensions}},
	})
}
