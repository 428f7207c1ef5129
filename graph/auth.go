package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/grantql/grantql/authz"
)

// TokenAuthenticator finds the user a bearer token belongs to.
type TokenAuthenticator interface {
	UserByToken(ctx context.Context, secret string) (authz.User, error)
}

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

// Authenticate is the HTTP middleware that reads `Authorization: Bearer
// <token>`. No header means an anonymous viewer; a malformed header, or an
// unknown, revoked or inactive user's token, is refused with 401 and a
// GraphQL error whose code is UNAUTHENTICATED. Every request also gets a
// fresh request cache for the engine, a request id (the client's
// X-Request-Id or a new one, echoed in the response) for decision logs,
// and the viewer as the actor of the writes it makes. Behind NewMux, the
// request id is the one every route gets.
func Authenticate(tokens TokenAuthenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := authz.WithRequestCache(withRequestID(w, r))
		header := r.Header.Get("Authorization")
		if header != "" {
			scheme, secret, ok := strings.Cut(header, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
				writeHTTPError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "the Authorization header must be `Bearer <token>`")
				return
			}
			u, err := tokens.UserByToken(ctx, strings.TrimSpace(secret))
			switch {
			case errors.Is(err, authz.ErrUnauthenticated):
				writeHTTPError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "the bearer token is unknown, revoked, or belongs to an inactive user")
				return
			case err != nil:
				logInternal(ctx, "authenticate", err)
				code, status := "INTERNAL", http.StatusInternalServerError
				if errors.Is(err, authz.ErrUnavailable) {
					code, status = "UNAVAILABLE", http.StatusServiceUnavailable
				}
				writeHTTPError(w, status, code, "could not check the bearer token")
				return
			}
			ctx = authz.WithActor(WithViewer(ctx, u), u.ID)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
