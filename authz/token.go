package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// tokenBytes is the entropy of an API token: 256 bits, beyond guessing.
const tokenBytes = 32

// TokenPrefix starts every API token, so that a leaked one is easy to spot
// in logs and by secret scanners.
const TokenPrefix = "gq_"

// NewToken returns a fresh random API token and the hash to store for it.
func NewToken() (secret, hash string) {
	b := make([]byte, tokenBytes)
	rand.Read(b) // crypto/rand.Read never fails (it panics instead)
	secret = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashToken(secret)
}

// HashToken returns the hex SHA-256 of a token, the only form stored. A
// fast hash is enough: the token has 256 random bits, so there is no
// dictionary to slow down.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	return hex.EncodeToString(sum[:])
}

// Reasons a credential is refused, in extensions.reason of the 401.
const (
	RefusedMalformedHeader = "malformed_header"
	RefusedUnknownToken    = "unknown_token"
	RefusedTokenExpired    = "token_expired"
	RefusedNotYetValid     = "token_not_yet_valid"
	RefusedWrongAudience   = "wrong_audience"
	RefusedWrongIssuer     = "wrong_issuer"
	RefusedUnknownKey      = "unknown_key"
	RefusedAlgNotAllowed   = "alg_not_allowed"
	RefusedBadSignature    = "bad_signature"
	RefusedMalformedToken  = "malformed_token"
	RefusedMissingClaim    = "missing_claim"
	RefusedUnknownUser     = "unknown_user"
	RefusedInactiveUser    = "inactive_user"
)

// RefusedError is a credential refused, with why in Reason (one of the
// Refused constants) and a message in the client's terms. It is an
// ErrUnauthenticated.
type RefusedError struct {
	Reason string
	Msg    string
}

func (e *RefusedError) Error() string        { return e.Msg }
func (e *RefusedError) Is(target error) bool { return target == ErrUnauthenticated }

// Refused returns a *RefusedError of reason with a formatted message.
func Refused(reason, format string, args ...any) error {
	return &RefusedError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// TokenInfo is what an API token's look-up says of the token itself: its
// id, and when it expires (zero: never).
type TokenInfo struct {
	ID        int64
	ExpiresAt time.Time
}

// Expired reports whether the token has expired at now.
func (t TokenInfo) Expired(now time.Time) bool {
	return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)
}

// ErrTokenExpired returns the refusal of an API token that expired at.
func ErrTokenExpired(at time.Time) error {
	return Refused(RefusedTokenExpired, "the bearer token expired at %s", at.UTC().Format(time.RFC3339))
}

// viewerToken is the API token a request authenticated with: its user's
// id, the token's hash, and its expiry.
type viewerToken struct {
	user int64
	hash string
	info TokenInfo
}

type viewerTokenKey struct{}

// WithViewerToken returns a context in which every load of user's grants
// also confirms that the API token whose hash is hash (HashToken) is still
// valid, in the same statement, when the store can (TokenGrantStore): a
// revoked token then fails the next check that reads the database with
// ErrUnauthenticated, as the check of a deactivated user is denied.
// Every write empties the request cache, so within a request the check
// that follows a revocation reads the database. Once the token expires
// (info), every check of the request is refused, cached or not.
func WithViewerToken(ctx context.Context, user int64, hash string, info TokenInfo) context.Context {
	return context.WithValue(ctx, viewerTokenKey{}, viewerToken{user: user, hash: hash, info: info})
}

// tokenExpired returns the refusal of ctx's viewer token once it has
// expired, and nil otherwise.
func tokenExpired(ctx context.Context) error {
	if vt, ok := ctx.Value(viewerTokenKey{}).(viewerToken); ok && vt.info.Expired(time.Now()) {
		return ErrTokenExpired(vt.info.ExpiresAt)
	}
	return nil
}

// tokenOf returns the hash of the token that ctx's loads of user's grants
// must confirm, or "".
func tokenOf(ctx context.Context, user int64) string {
	if vt, ok := ctx.Value(viewerTokenKey{}).(viewerToken); ok && vt.user == user {
		return vt.hash
	}
	return ""
}

// errTokenRevoked is the error of a check whose viewer's token was revoked
// since the request began.
var errTokenRevoked = &categorized{msg: "the bearer token was revoked", category: ErrUnauthenticated}

// RequireAuthenticated returns nil when viewer may still act in ctx: it
// exists and is active, and the token it authenticated with (if any,
// WithViewerToken) is still valid, as of the grants a check would read
// (the request's, or the database's after a write). It is the check of a
// field that acts as the viewer without asking for a permission, such as
// minting a token for oneself, and costs what a check costs: nothing when
// the grants are cached, one statement otherwise.
func (e *Engine) RequireAuthenticated(ctx context.Context, viewer int64) error {
	if viewer == Anonymous {
		return errSignIn("do this")
	}
	active, _, err := e.StoredFlags(ctx, viewer)
	if errors.Is(err, ErrNotFound) {
		return &categorized{msg: "the bearer token's user no longer exists", category: ErrUnauthenticated}
	}
	if err != nil {
		return err
	}
	if !active {
		return &categorized{msg: "the bearer token's user is inactive", category: ErrUnauthenticated}
	}
	return nil
}
