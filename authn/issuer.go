package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults of an issuer's settings.
const (
	// DefaultClockSkew tolerates clocks a minute apart, as most OIDC
	// libraries do, and no more: a token is valid at most that long past
	// its expiry.
	DefaultClockSkew = 60 * time.Second
	// DefaultUserClaim names the user: the subject, stable for the
	// issuer's lifetime, unlike an email or a display name.
	DefaultUserClaim = "sub"
	// DefaultUnknownKeyRefresh is how often an unknown key id may make
	// the keys be fetched again: a rotated key is picked up within a
	// minute, and tokens with made-up key ids cannot hammer the issuer.
	DefaultUnknownKeyRefresh = time.Minute
	// DefaultKeyRefresh is how often the keys are fetched anyway.
	DefaultKeyRefresh = time.Hour
	// keyFetchTimeout bounds a fetch of the keys, and how long a request
	// with an unknown key id may wait for one.
	keyFetchTimeout = 5 * time.Second
)

// DefaultAlgorithms are the signing algorithms accepted when an issuer
// names none: asymmetric, so that the keys grantql holds are public.
var DefaultAlgorithms = []string{"RS256", "ES256"}

// allowedAlgorithms are the algorithms an issuer may allow: every
// asymmetric one golang-jwt verifies. Never "none", and never HS*, whose
// key would be a shared secret, not a published key: allowing it is the
// way to the HS/RS confusion attack.
var allowedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// IssuerConfig is the setting of one issuer, as written in the file of
// --oidc-config (docs/authentication.md).
type IssuerConfig struct {
	// Issuer is the issuer URL, matched exactly against the iss claim.
	Issuer string `json:"issuer"`
	// Audience must be one of the token's aud claim.
	Audience string `json:"audience"`
	// JWKSURL is where the issuer's keys are; empty: found by OIDC
	// discovery at Issuer + "/.well-known/openid-configuration".
	JWKSURL string `json:"jwks_url,omitempty"`
	// Algorithms accepted; empty: DefaultAlgorithms.
	Algorithms []string `json:"algorithms,omitempty"`
	// ClockSkew tolerated on exp, nbf and iat, as a Go duration ("60s");
	// empty: DefaultClockSkew.
	ClockSkew string `json:"clock_skew,omitempty"`
	// UserClaim names the user; empty: DefaultUserClaim.
	UserClaim string `json:"user_claim,omitempty"`
	// UsernameClaim is the claim a just-in-time user's username is
	// derived from; empty: preferred_username, else UserClaim.
	UsernameClaim string `json:"username_claim,omitempty"`
	// GroupsClaim, when set, is a claim with group names, which sets the
	// caller's memberships of the groups this issuer manages.
	GroupsClaim string `json:"groups_claim,omitempty"`
	// CreateUsers creates the user of an unknown subject just in time;
	// false refuses it (unknown_user).
	CreateUsers bool `json:"create_users,omitempty"`
}

// Config is the file of --oidc-config.
type Config struct {
	Issuers []IssuerConfig `json:"issuers"`
}

// LoadConfig reads and checks the issuers' settings from a JSON file.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	for i := range c.Issuers {
		if err := c.Issuers[i].normalize(); err != nil {
			return Config{}, fmt.Errorf("%s: issuer %d: %w", path, i+1, err)
		}
	}
	return c, nil
}

// normalize checks c and fills in its defaults.
func (c *IssuerConfig) normalize() error {
	switch {
	case c.Issuer == "":
		return errors.New("issuer is required")
	case c.Audience == "":
		return fmt.Errorf("issuer %s: audience is required", c.Issuer)
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = DefaultAlgorithms
	}
	for _, a := range c.Algorithms {
		if !slices.Contains(allowedAlgorithms, a) {
			return fmt.Errorf("issuer %s: algorithm %q is not allowed; use asymmetric ones among %s", c.Issuer, a, strings.Join(allowedAlgorithms, ", "))
		}
	}
	if c.ClockSkew == "" {
		c.ClockSkew = DefaultClockSkew.String()
	}
	if d, err := time.ParseDuration(c.ClockSkew); err != nil || d < 0 {
		return fmt.Errorf("issuer %s: clock_skew %q is not a duration such as 60s", c.Issuer, c.ClockSkew)
	}
	if c.UserClaim == "" {
		c.UserClaim = DefaultUserClaim
	}
	return nil
}

// Issuer verifies the JWTs of one issuer, with its keys cached.
type Issuer struct {
	cfg    IssuerConfig
	skew   time.Duration
	keys   keyfunc.Keyfunc
	parser *jwt.Parser
}

// NewIssuer returns the verifier of cfg's issuer. Its keys are fetched
// from the JWKS URL (found by discovery when cfg has none) now, again
// every DefaultKeyRefresh, and when a token names an unknown key id, at
// most once per unknownKeyRefresh (0: DefaultUnknownKeyRefresh), until ctx
// ends. client fetches them (nil: http.DefaultClient).
func NewIssuer(ctx context.Context, cfg IssuerConfig, client *http.Client, unknownKeyRefresh time.Duration) (*Issuer, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if client == nil {
		client = http.DefaultClient
	}
	if unknownKeyRefresh <= 0 {
		unknownKeyRefresh = DefaultUnknownKeyRefresh
	}
	if cfg.JWKSURL == "" {
		u, err := discoverJWKS(ctx, client, cfg.Issuer)
		if err != nil {
			return nil, err
		}
		cfg.JWKSURL = u
	}
	keys, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{cfg.JWKSURL}, keyfunc.Override{
		Client:          client,
		RefreshInterval: DefaultKeyRefresh,
		// Bounds both the wait for the limiter (an unknown key id whose
		// refresh is further off is refused at once) and the refresh.
		RateLimitWaitMax:  keyFetchTimeout,
		HTTPTimeout:       keyFetchTimeout,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKeyRefresh), 1),
	})
	if err != nil {
		return nil, fmt.Errorf("issuer %s: keys at %s: %w", cfg.Issuer, cfg.JWKSURL, err)
	}
	skew, _ := time.ParseDuration(cfg.ClockSkew)
	return &Issuer{cfg: cfg, skew: skew, keys: keys, parser: jwt.NewParser(
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithLeeway(skew),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)}, nil
}

// Name returns the issuer URL.
func (i *Issuer) Name() string { return i.cfg.Issuer }

// discoverJWKS reads the jwks_uri of issuer's OIDC discovery document,
// which must name the same issuer.
func discoverJWKS(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("issuer %s: discovery: %w", issuer, err)
	}
	res, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("issuer %s: discovery: %w", issuer, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("issuer %s: discovery at %s answered %s", issuer, u, res.Status)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("issuer %s: discovery at %s: %w", issuer, u, err)
	}
	switch {
	case doc.Issuer != issuer:
		return "", fmt.Errorf("issuer %s: discovery at %s names issuer %q", issuer, u, doc.Issuer)
	case doc.JWKSURI == "":
		return "", fmt.Errorf("issuer %s: discovery at %s names no jwks_uri", issuer, u)
	}
	return doc.JWKSURI, nil
}
