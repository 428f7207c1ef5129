package authn

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/grantql/grantql/authz"
)

// Authenticator says who a request's caller is. A request without
// credentials is anonymous: a nil Viewer and a nil error. Credentials that
// cannot be valid are refused with an error that is an
// authz.ErrUnauthenticated (a *authz.RefusedError says why).
type Authenticator interface {
	Authenticate(r *http.Request) (*Viewer, error)
}

// Viewer is a request's caller, verified as far as it can be without the
// database; its user is looked up once, by User.
type Viewer struct {
	lookup func(ctx context.Context, also func() authz.ViewerLoad) (authz.User, authz.TokenInfo, error)
	// hash is an API token's hash, which every later load of the user's
	// grants confirms (authz.WithViewerToken); "" for a JWT.
	hash string
	used func(authz.TokenInfo)

	mu     sync.Mutex
	looked bool
	user   authz.User
	token  authz.TokenInfo
	err    error
}

// User looks the viewer's user up, unless it was looked up already,
// loading with it, in the same statement, what also returns (nil:
// nothing). An unknown, revoked, expired or inactive caller is an
// authz.ErrUnauthenticated.
func (v *Viewer) User(ctx context.Context, also func() authz.ViewerLoad) (authz.User, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.looked {
		return v.user, v.err
	}
	v.looked = true
	loaded, load := false, also
	if also != nil {
		load = func() authz.ViewerLoad {
			l := also()
			loaded = l.User != 0 || len(l.Projects) > 0
			return l
		}
	}
	v.user, v.token, v.err = v.lookup(ctx, load)
	if loaded && v.err != nil && !errors.Is(v.err, authz.ErrUnauthenticated) {
		// The load is a hint: its failure is the check's to report, when
		// the credential alone can be looked up.
		v.user, v.token, v.err = v.lookup(ctx, nil)
	}
	if v.err == nil && v.used != nil {
		v.used(v.token)
	}
	return v.user, v.err
}

// Context returns ctx with what later checks of the request must confirm
// of the viewer, whose user u User returned: an API token is confirmed by
// every load of the user's grants and refused once it expires
// (authz.WithViewerToken). A JWT caller needs nothing more: its user's
// flags come with its grants, so a deactivation refuses the next check.
func (v *Viewer) Context(ctx context.Context, u authz.User) context.Context {
	if v.hash == "" {
		return ctx
	}
	return authz.WithViewerToken(ctx, u.ID, v.hash, v.token)
}

// IdentityWriter writes what a JWT caller's first request may need: its
// user, created just in time, and its memberships of the groups its
// issuer manages.
type IdentityWriter interface {
	CreateIdentityUser(ctx context.Context, issuer, subject, username string) (authz.User, error)
	SyncIssuerGroups(ctx context.Context, user int64, issuer string, groups []string) (bool, error)
}

// Service is the Authenticator of grantql: API tokens through the shared
// cache, and JWTs of the configured issuers.
type Service struct {
	engine  *authz.Engine
	tokens  *authz.CachedTokens
	issuers []*Issuer
	writer  IdentityWriter
	usage   *TokenUsage
	synced  syncMemo
}

var _ Authenticator = (*Service)(nil)

// Option configures a Service.
type Option func(*Service)

// WithIssuers accepts JWTs of issuers, whose users writer creates and
// whose groups it syncs.
func WithIssuers(writer IdentityWriter, issuers ...*Issuer) Option {
	return func(s *Service) { s.writer, s.issuers = writer, append(s.issuers, issuers...) }
}

// WithTokenUsage records each API token's use in usage.
func WithTokenUsage(usage *TokenUsage) Option {
	return func(s *Service) { s.usage = usage }
}

// New returns the Service that looks API tokens (and, with WithIssuers,
// identities) up in store through engine's shared cache.
func New(engine *authz.Engine, store authz.TokenStore, opts ...Option) *Service {
	s := &Service{engine: engine, tokens: engine.SharedCache().Tokens(store)}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Authenticate implements Authenticator: it reads `Authorization: Bearer
// <credential>`. A credential of three dot-separated parts, when issuers
// are configured, is a JWT, verified now; anything else is an API token,
// looked up by Viewer.User.
func (s *Service) Authenticate(r *http.Request) (*Viewer, error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, nil
	}
	scheme, secret, ok := strings.Cut(header, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, authz.Refused(authz.RefusedMalformedHeader, "the Authorization header must be `Bearer <token>`")
	}
	if len(s.issuers) > 0 && !strings.HasPrefix(secret, authz.TokenPrefix) && strings.Count(secret, ".") == 2 {
		return s.jwtViewer(r.Context(), secret)
	}
	v := &Viewer{hash: authz.HashToken(secret)}
	v.lookup = func(ctx context.Context, also func() authz.ViewerLoad) (authz.User, authz.TokenInfo, error) {
		return s.tokens.UserByTokenLoading(ctx, secret, also)
	}
	if s.usage != nil {
		v.used = func(t authz.TokenInfo) { s.usage.Used(t.ID, time.Now()) }
	}
	return v, nil
}

// jwtViewer verifies a JWT and returns its caller, whose user is looked
// up (and created, or its groups synced, as its issuer says) by User.
func (s *Service) jwtViewer(ctx context.Context, raw string) (*Viewer, error) {
	claims, iss, err := verify(ctx, s.issuers, raw)
	if err != nil {
		return nil, err
	}
	subject, groups := claims.subject, claims.groups
	v := &Viewer{}
	v.lookup = func(ctx context.Context, also func() authz.ViewerLoad) (authz.User, authz.TokenInfo, error) {
		u, err := s.tokens.UserByIdentityLoading(ctx, iss.cfg.Issuer, subject, also)
		if errors.Is(err, authz.ErrNotFound) {
			if !iss.cfg.CreateUsers {
				return authz.User{}, authz.TokenInfo{}, authz.Refused(authz.RefusedUnknownUser,
					"no grantql user is linked to subject %q of issuer %s, and the issuer does not create users", subject, iss.cfg.Issuer)
			}
			if _, err = s.writer.CreateIdentityUser(ctx, iss.cfg.Issuer, subject, claims.username); err != nil {
				return authz.User{}, authz.TokenInfo{}, err
			}
			s.engine.NoteWrite(ctx)
			u, err = s.tokens.UserByIdentityLoading(ctx, iss.cfg.Issuer, subject, nil)
		}
		if err != nil {
			return authz.User{}, authz.TokenInfo{}, err
		}
		if iss.cfg.GroupsClaim != "" {
			if err := s.syncGroups(ctx, iss.cfg.Issuer, u.ID, groups); err != nil {
				return authz.User{}, authz.TokenInfo{}, err
			}
		}
		return u, authz.TokenInfo{}, nil
	}
	return v, nil
}

// syncGroups syncs the user's memberships of the issuer's groups with
// groups, unless this process last synced the same claim for the user:
// a caller whose claim did not change costs nothing.
func (s *Service) syncGroups(ctx context.Context, issuer string, user int64, groups []string) error {
	key := syncKey{issuer: issuer, user: user}
	print := fingerprint(groups)
	if s.synced.seen(key, print) {
		return nil
	}
	changed, err := s.writer.SyncIssuerGroups(authz.WithActor(ctx, user), user, issuer, groups)
	if err != nil {
		return err
	}
	if changed {
		s.engine.NoteWrite(ctx)
	}
	s.synced.remember(key, print)
	return nil
}
