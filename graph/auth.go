package graph

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"

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
//
// A well-formed token is looked up when the GraphQL operation starts
// (AuthenticateOperation), before any resolver runs, so that the look-up
// can bring the grants the operation's first check reads in the same
// statement. Whatever ends the request first — the operation, or an
// answer written without one — looks the token up if nothing has, and a
// refused token replaces the whole answer with the 401.
func Authenticate(tokens TokenAuthenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := authz.WithRequestCache(withRequestID(w, r))
		header := r.Header.Get("Authorization")
		if header == "" {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		scheme, secret, ok := strings.Cut(header, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			writeHTTPError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "the Authorization header must be `Bearer <token>`")
			return
		}
		b := &bearer{tokens: tokens, secret: strings.TrimSpace(secret)}
		ctx = context.WithValue(ctx, bearerKey{}, b)
		aw := &authWriter{ResponseWriter: w, ctx: ctx, bearer: b}
		next.ServeHTTP(aw, r.WithContext(ctx))
		aw.admit()
	})
}

// LoadingAuthenticator is a TokenAuthenticator that can load, in the
// token's statement, the grants a request's first check will read: those
// also returns, called only when the token's look-up reaches the store.
type LoadingAuthenticator interface {
	UserByTokenLoading(ctx context.Context, secret string, also func() authz.ViewerLoad) (authz.User, error)
}

type bearerKey struct{}

// bearer is a request's token, looked up once.
type bearer struct {
	tokens TokenAuthenticator
	secret string

	mu     sync.Mutex
	looked bool
	user   authz.User
	err    error
}

// lookUp looks the token up, unless it was looked up already, loading
// with it what also returns (nil: nothing) when the authenticator can.
func (b *bearer) lookUp(ctx context.Context, also func() authz.ViewerLoad) (authz.User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.looked {
		return b.user, b.err
	}
	b.looked = true
	la, loading := b.tokens.(LoadingAuthenticator)
	if !loading || also == nil {
		b.user, b.err = b.tokens.UserByToken(ctx, b.secret)
		return b.user, b.err
	}
	loaded := false
	b.user, b.err = la.UserByTokenLoading(ctx, b.secret, func() authz.ViewerLoad {
		l := also()
		loaded = l.User != 0 || len(l.Projects) > 0
		return l
	})
	if loaded && b.err != nil && !errors.Is(b.err, authz.ErrUnauthenticated) {
		// The load is a hint: its failure is the check's to report, when
		// the token alone can be looked up.
		b.user, b.err = b.tokens.UserByToken(ctx, b.secret)
	}
	return b.user, b.err
}

// AuthenticateOperation looks up the request's bearer token, if it has
// one, loading with it the grants the operation's first check reads, and
// returns the context with the viewer, the viewer as the actor of writes,
// and the token, which every later load of the viewer's grants confirms
// (authz.WithViewerToken): a token revoked while the request runs refuses
// the next check that reads the database, as a deactivation denies it.
// An error means the request is refused; Authenticate answers it.
func AuthenticateOperation(ctx context.Context) (context.Context, error) {
	b, ok := ctx.Value(bearerKey{}).(*bearer)
	if !ok {
		return ctx, nil
	}
	u, err := b.lookUp(ctx, func() authz.ViewerLoad { return operationLoad(ctx) })
	if err != nil {
		return ctx, err
	}
	ctx = authz.WithViewerToken(ctx, u.ID, authz.HashToken(b.secret))
	return authz.WithActor(WithViewer(ctx, u), u.ID), nil
}

// authWriter holds a request's answer back until its token is known to be
// good: a refused token's answer is replaced by the refusal. It has no
// Unwrap, so that http.ResponseController cannot reach the writer
// underneath (to hijack the connection, say) past admit.
type authWriter struct {
	http.ResponseWriter
	ctx     context.Context
	bearer  *bearer
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
	_, err := w.bearer.lookUp(w.ctx, nil)
	switch {
	case err == nil:
		return true
	case errors.Is(err, authz.ErrUnauthenticated):
		writeHTTPError(w.ResponseWriter, http.StatusUnauthorized, "UNAUTHENTICATED", "the bearer token is unknown, revoked, or belongs to an inactive user")
	default:
		logInternal(w.ctx, "authenticate", err)
		code, status := "INTERNAL", http.StatusInternalServerError
		if errors.Is(err, authz.ErrUnavailable) {
			code, status = "UNAVAILABLE", http.StatusServiceUnavailable
		}
		writeHTTPError(w.ResponseWriter, status, code, "could not check the bearer token")
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
