package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/grantql/grantql/authn"
	"github.com/grantql/grantql/authz"
)

type viewerKey struct{}

// WithViewer returns a context whose viewer is u.
func WithViewer(ctx context.Context, u authz.User) context.Context {
	return context.WithValue(ctx, viewerKey{}, u)
}

// ViewerFrom returns the request's viewer, and false for an anonymous request.
func ViewerFrom(ctx context.Context) (authz.User, bool) {
	u, ok := ctx.Value(viewerKey{}).(authz.User)
	return u, ok
}

// viewerID returns the viewer's id, or authz.Anonymous.
func viewerID(ctx context.Context) int64 {
	if u, ok := ViewerFrom(ctx); ok {
		return u.ID
	}
	return authz.Anonymous
}

// maxRequestIDLen bounds a request id taken from the client, so that it
// fits the decision_logs column (VARCHAR(64)).
const maxRequestIDLen = 64

// requestID returns the client's X-Request-Id when it is short and
// printable, and a fresh random one otherwise.
func requestID(r *http.Request) string {
	id := r.Header.Get("X-Request-Id")
	if id != "" && len(id) <= maxRequestIDLen && strings.IndexFunc(id, func(c rune) bool { return c < '!' || c > '~' }) < 0 {
		return id
	}
	b := make([]byte, 16)
	rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b)
}

// withRequestID returns the request's context with its request id: the
// one an outer middleware gave it, or else requestID's, which it also
// sets as the response's X-Request-Id header.
func withRequestID(w http.ResponseWriter, r *http.Request) context.Context {
	ctx := r.Context()
	if authz.RequestIDFrom(ctx) != "" {
		return ctx
	}
	ctx = authz.WithRequestID(ctx, requestID(r))
	w.Header().Set("X-Request-Id", authz.RequestIDFrom(ctx))
	return ctx
}

// Authenticate is the HTTP middleware that asks authenticator who the
// caller is (authn: `Authorization: Bearer <API token or JWT>`). No
// header means an anonymous viewer; credentials that cannot be valid, or
// an unknown, revoked, expired or inactive user's, are refused with 401
// and a GraphQL error whose code is UNAUTHENTICATED and whose
// extensions.reason says why. Every request also gets a fresh request
// cache for the engine, a request id (the client's X-Request-Id or a new
// one, echoed in the response) for decision logs, and the viewer as the
// actor of the writes it makes. Behind NewMux, the request id is the one
// every route gets.
//
// The caller's user is looked up when the GraphQL operation starts
// (AuthenticateOperation), before any resolver runs, so that the look-up
// can bring the grants the operation's first check reads in the same
// statement. Whatever ends the request first — the operation, or an
// answer written without one — looks the user up if nothing has, and a
// refused caller's answer is replaced whole with the 401.
func Authenticate(authenticator authn.Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := authz.WithRequestCache(withRequestID(w, r))
		v, err := authenticator.Authenticate(r.WithContext(ctx))
		if err != nil {
			writeRefusal(w, ctx, err)
			return
		}
		if v == nil {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		ctx = context.WithValue(ctx, viewerCredKey{}, v)
		aw := &authWriter{ResponseWriter: w, ctx: ctx, viewer: v}
		next.ServeHTTP(aw, r.WithContext(ctx))
		aw.admit()
	})
}

type viewerCredKey struct{}

// AuthenticateOperation looks up the request's caller, if it has one,
// loading with it the grants the operation's first check reads, and
// returns the context with the viewer, the viewer as the actor of writes,
// and what every later check must confirm (authn.Viewer.Context): an API
// token revoked while the request runs refuses the next check that reads
// the database, as a deactivation denies it, and an expired one refuses
// every later check. An error means the request is refused; Authenticate
// answers it.
func AuthenticateOperation(ctx context.Context) (context.Context, error) {
	v, ok := ctx.Value(viewerCredKey{}).(*authn.Viewer)
	if !ok {
		return ctx, nil
	}
	u, err := v.User(ctx, func() authz.ViewerLoad { return operationLoad(ctx) })
	if err != nil {
		return ctx, err
	}
	ctx = v.Context(ctx, u)
	return authz.WithActor(WithViewer(ctx, u), u.ID), nil
}

// writeRefusal writes the answer of a caller refused with err: 401 for
// credentials (with extensions.reason when err says why), 503 or 500 when
// they could not be checked.
func writeRefusal(w http.ResponseWriter, ctx context.Context, err error) {
	var refused *authz.RefusedError
	switch {
	case errors.As(err, &refused):
		writeErrorResponse(w, http.StatusUnauthorized, refused.Msg, map[string]any{"code": CodeUnauthenticated, "reason": refused.Reason})
	case errors.Is(err, authz.ErrUnauthenticated):
		writeHTTPError(w, http.StatusUnauthorized, CodeUnauthenticated, "the bearer token is unknown, revoked, or belongs to an inactive user")
	default:
		logInternal(ctx, "authenticate", err)
		code, status := CodeInternal, http.StatusInternalServerError
		if errors.Is(err, authz.ErrUnavailable) {
			code, status = CodeUnavailable, http.StatusServiceUnavailable
		}
		writeHTTPError(w, status, code, "could not check the bearer token")
	}
}

// authWriter holds a request's answer back until its token is known to be
// good: a refused token's answer is replaced by the refusal. It has no
// Unwrap, so that http.ResponseController cannot reach the writer
// underneath (to hijack the connection, say) past admit.
type authWriter struct {
	http.ResponseWriter
	ctx     context.Context
	viewer  *authn.Viewer
	decided bool
	refused bool
}

// admit looks the token up, if nothing has, the first time it is called,
// writes the refusal of a bad one, and reports whether the handler's
// answer may go out.
func (w *authWriter) admit() bool {
	if w.decided {
		return !w.refused
	}
	w.decided = true
	if _, err := w.viewer.User(w.ctx, nil); err == nil {
		return true
	} else {
		writeRefusal(w.ResponseWriter, w.ctx, err)
	}
	w.refused = true
	return false
}

func (w *authWriter) WriteHeader(status int) {
	if w.admit() {
		w.ResponseWriter.WriteHeader(status)
	}
}

// Write drops a refused request's answer, reporting it written.
func (w *authWriter) Write(b []byte) (int, error) {
	if !w.admit() {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes on flushes of an admitted answer.
func (w *authWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && w.admit() {
		f.Flush()
	}
}
