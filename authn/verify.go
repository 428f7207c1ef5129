package authn

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"github.com/grantql/grantql/authz"
)

// maxSubjectLen is the length of user_identities.subject.
const maxSubjectLen = 255

// jwtClaims is what grantql reads of a verified JWT.
type jwtClaims struct {
	subject  string
	username string
	groups   []string
}

// verify verifies raw against the issuer its iss claim names, and
// returns what it says of its caller, or the refusal, with a reason.
func verify(ctx context.Context, issuers []*Issuer, raw string) (jwtClaims, *Issuer, error) {
	unverified, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return jwtClaims{}, nil, authz.Refused(authz.RefusedMalformedToken, "the bearer token is neither an API token nor a well-formed JWT")
	}
	issName, _ := unverified.Claims.GetIssuer()
	i := slices.IndexFunc(issuers, func(i *Issuer) bool { return i.cfg.Issuer == issName })
	if i < 0 {
		return jwtClaims{}, nil, authz.Refused(authz.RefusedWrongIssuer, "the JWT's issuer %q is not one grantql trusts", issName)
	}
	iss := issuers[i]
	alg, _ := unverified.Header["alg"].(string)
	if !slices.Contains(iss.cfg.Algorithms, alg) {
		return jwtClaims{}, nil, authz.Refused(authz.RefusedAlgNotAllowed, "the JWT is signed with %q; issuer %s allows %s", alg, iss.cfg.Issuer, strings.Join(iss.cfg.Algorithms, ", "))
	}
	claims := jwt.MapClaims{}
	if _, err := iss.parser.ParseWithClaims(raw, claims, iss.keys.KeyfuncCtx(ctx)); err != nil {
		return jwtClaims{}, nil, refusal(iss, err)
	}
	subject, _ := claims[iss.cfg.UserClaim].(string)
	if subject == "" || len(subject) > maxSubjectLen {
		return jwtClaims{}, nil, authz.Refused(authz.RefusedMissingClaim, "the JWT has no %q claim naming the user (a string of 1 to %d bytes)", iss.cfg.UserClaim, maxSubjectLen)
	}
	c := jwtClaims{subject: subject, username: username(claims, iss.cfg, subject)}
	if iss.cfg.GroupsClaim != "" {
		c.groups = stringList(claims[iss.cfg.GroupsClaim])
	}
	return c, iss, nil
}

// refusal translates golang-jwt's verdict into the client's terms.
func refusal(iss *Issuer, err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return authz.Refused(authz.RefusedUnknownKey, "the JWT's signing key is not among issuer %s's keys", iss.cfg.Issuer)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return authz.Refused(authz.RefusedBadSignature, "the JWT's signature does not verify")
	case errors.Is(err, jwt.ErrTokenExpired):
		return authz.Refused(authz.RefusedTokenExpired, "the JWT has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return authz.Refused(authz.RefusedNotYetValid, "the JWT is not valid yet")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return authz.Refused(authz.RefusedWrongAudience, "the JWT is not meant for audience %q", iss.cfg.Audience)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return authz.Refused(authz.RefusedWrongIssuer, "the JWT's issuer is not %s", iss.cfg.Issuer)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return authz.Refused(authz.RefusedMissingClaim, "the JWT lacks a required claim (exp)")
	}
	return authz.Refused(authz.RefusedMalformedToken, "the JWT is malformed")
}

// stringList reads a claim of group names: a list of strings, or one
// string. Anything else is no group.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// username derives a just-in-time user's username from the issuer's
// username claim (or preferred_username, or the subject): the characters
// a username allows are kept, any other becomes "_", and it is cut to the
// allowed length. CreateIdentityUser makes it unique.
func username(claims map[string]any, cfg IssuerConfig, subject string) string {
	src := subject
	for _, name := range []string{cfg.UsernameClaim, "preferred_username"} {
		if s, ok := claims[name].(string); ok && name != "" && s != "" {
			src = s
			break
		}
	}
	var b strings.Builder
	for _, r := range src {
		if utf8.RuneCountInString(b.String()) >= authz.MaxUsernameLen-4 {
			break
		}
		if unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune("@.+-_", r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('_')
		}
	}
	if b.Len() == 0 {
		return "user"
	}
	return b.String()
}

// syncKey names a user of an issuer whose groups were synced.
type syncKey struct {
	issuer string
	user   int64
}

// maxSyncMemo bounds the memo of synced claims; past it the memo starts
// over, and callers sync once more.
const maxSyncMemo = 100_000

// syncMemo remembers the group claim last synced for each caller, so that
// a caller whose claim did not change writes, and reads, nothing.
type syncMemo struct {
	mu     sync.Mutex
	claims map[syncKey]uint64
}

// seen reports whether print is the claim last synced for key.
func (m *syncMemo) seen(key syncKey, print uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.claims[key]
	return ok && v == print
}

// remember notes that print was synced for key.
func (m *syncMemo) remember(key syncKey, print uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.claims == nil || len(m.claims) >= maxSyncMemo {
		m.claims = map[syncKey]uint64{}
	}
	m.claims[key] = print
}

// fingerprint is a hash of a set of group names, in any order.
func fingerprint(groups []string) uint64 {
	sorted := slices.Clone(groups)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	h := fnv.New64a()
	for _, g := range sorted {
		h.Write([]byte(g))
		h.Write([]byte{0})
	}
	return h.Sum64()
}
