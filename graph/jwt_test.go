package graph_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/grantql/grantql/authn"
	"github.com/grantql/grantql/authz"
	"github.com/grantql/grantql/graph"
	"github.com/grantql/grantql/internal/dbtest"
	"github.com/grantql/grantql/models"
)

// testAudience is the audience of the test issuers.
const testAudience = "grantql-test"

// testIDP is an OIDC identity provider served by httptest: its keys (RSA
// and EC, made for the test), its JWKS, and the discovery document of
// two issuers on it: /jit creates users just in time and syncs the
// groups claim; /strict knows only linked users.
type testIDP struct {
	srv       *httptest.Server
	rsaKey    *rsa.PrivateKey
	ecKey     *ecdsa.PrivateKey
	jwksHits  atomic.Int64
	mu        sync.Mutex
	extraKeys map[string]*rsa.PublicKey // served besides rsa1 and ec1
}

func newTestIDP(t *testing.T) *testIDP {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIDP{rsaKey: rk, ecKey: ek, extraKeys: map[string]*rsa.PublicKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		idp.jwksHits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(idp.jwks())
	})
	for _, name := range []string{"jit", "strict"} {
		mux.HandleFunc("GET /"+name+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(map[string]string{"issuer": idp.issuer(name), "jwks_uri": idp.srv.URL + "/jwks.json"})
		})
	}
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

func (p *testIDP) issuer(name string) string { return p.srv.URL + "/" + name }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, k *rsa.PublicKey) map[string]string {
	return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
}

// jwks is the key set: rsa1, ec1, and the extra keys.
func (p *testIDP) jwks() map[string]any {
	x, y := make([]byte, 32), make([]byte, 32)
	p.ecKey.X.FillBytes(x)
	p.ecKey.Y.FillBytes(y)
	keys := []map[string]string{rsaJWK("rsa1", &p.rsaKey.PublicKey),
		{"kty": "EC", "kid": "ec1", "use": "sig", "crv": "P-256", "x": b64(x), "y": b64(y)}}
	p.mu.Lock()
	for kid, k := range p.extraKeys {
		keys = append(keys, rsaJWK(kid, k))
	}
	p.mu.Unlock()
	return map[string]any{"keys": keys}
}

// claims returns valid claims of issuer name for subject.
func (p *testIDP) claims(name, subject string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"iss": p.issuer(name), "aud": testAudience, "sub": subject,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
}

// sign signs claims with RS256 and rsa1.
func (p *testIDP) sign(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	return signWith(t, jwt.SigningMethodRS256, "rsa1", p.rsaKey, claims)
}

func signWith(t *testing.T, m jwt.SigningMethod, kid string, key any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("SignedString(%s) = %v", m.Alg(), err)
	}
	return s
}

// jwtHarness serves a harness that accepts the IdP's two issuers: /jit
// found by discovery, creating users and syncing the "groups" claim;
// /strict with its JWKS URL given, knowing only linked users.
func jwtHarness(t *testing.T, db *models.DB, idp *testIDP, opts ...authz.Option) *harness {
	t.Helper()
	store := models.NewStore(db)
	engine := authz.NewEngine(store, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	jit, err := authn.NewIssuer(ctx, authn.IssuerConfig{Issuer: idp.issuer("jit"), Audience: testAudience,
		GroupsClaim: "groups", CreateUsers: true}, idp.srv.Client(), 0)
	if err != nil {
		t.Fatalf("NewIssuer(jit) = %v", err)
	}
	strict, err := authn.NewIssuer(ctx, authn.IssuerConfig{Issuer: idp.issuer("strict"), Audience: testAudience,
		JWKSURL: idp.srv.URL + "/jwks.json"}, idp.srv.Client(), 0)
	if err != nil {
		t.Fatalf("NewIssuer(strict) = %v", err)
	}
	a := authn.New(engine, store, authn.WithIssuers(store, jit, strict))
	return serveHarness(t, db, store, engine, graph.WithLimits(graph.Limits{Complexity: 100000}), graph.WithAuthenticator(a))
}

// wantRefused asserts a 401 UNAUTHENTICATED whose extensions.reason is
// reason.
func wantRefused(t *testing.T, what string, got response, reason string) {
	t.Helper()
	if got.Status != http.StatusUnauthorized || len(got.Errors) != 1 || got.Errors[0].code() != "UNAUTHENTICATED" {
		t.Errorf("%s = %v, want 401 with one UNAUTHENTICATED error", what, got)
		return
	}
	if r, _ := got.Errors[0].Extensions["reason"].(string); r != reason {
		t.Errorf("%s: extensions.reason = %q (message %q), want %q", what, r, got.Errors[0].Message, reason)
	}
}

// TestJWTRefusals: every way a JWT can be wrong is refused with 401, code
// UNAUTHENTICATED and a reason of its own, before the database is asked
// anything about it; valid RS256 and ES256 tokens of the same issuer, and
// one 30 seconds past its expiry (within the default skew), pass.
func TestJWTRefusals(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		idp := newTestIDP(t)
		h := jwtHarness(t, db, idp)
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		pubPEM, err := x509.MarshalPKIXPublicKey(&idp.rsaKey.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		pubBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubPEM})
		with := func(name string, edit func(c jwt.MapClaims)) jwt.MapClaims {
			c := idp.claims(name, "alice")
			edit(c)
			return c
		}
		hour := time.Hour
		for _, c := range []struct {
			name   string
			token  string
			reason string // "": accepted
		}{
			{"RS256 accepted", idp.sign(t, idp.claims("jit", "alice")), ""},
			{"ES256 accepted", signWith(t, jwt.SigningMethodES256, "ec1", idp.ecKey, idp.claims("jit", "alice")), ""},
			{"expired within the clock skew", idp.sign(t, with("jit", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-30 * time.Second).Unix() })), ""},
			{"expired", idp.sign(t, with("jit", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-hour).Unix() })), authz.RefusedTokenExpired},
			{"not yet valid", idp.sign(t, with("jit", func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(hour).Unix() })), authz.RefusedNotYetValid},
			{"issued in the future", idp.sign(t, with("jit", func(c jwt.MapClaims) { c["iat"] = time.Now().Add(hour).Unix() })), authz.RefusedNotYetValid},
			{"wrong audience", idp.sign(t, with("jit", func(c jwt.MapClaims) { c["aud"] = "another-service" })), authz.RefusedWrongAudience},
			{"wrong issuer", idp.sign(t, with("jit", func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), authz.RefusedWrongIssuer},
			{"unknown key id", signWith(t, jwt.SigningMethodRS256, "nobody", other, idp.claims("jit", "alice")), authz.RefusedUnknownKey},
			{"alg none", signWith(t, jwt.SigningMethodNone, "rsa1", jwt.UnsafeAllowNoneSignatureType, idp.claims("jit", "alice")), authz.RefusedAlgNotAllowed},
			{"HS256 keyed with the RSA public key", signWith(t, jwt.SigningMethodHS256, "rsa1", pubBytes, idp.claims("jit", "alice")), authz.RefusedAlgNotAllowed},
			{"RS384 not allowed", signWith(t, jwt.SigningMethodRS384, "rsa1", idp.rsaKey, idp.claims("jit", "alice")), authz.RefusedAlgNotAllowed},
			{"bad signature", signWith(t, jwt.SigningMethodRS256, "rsa1", other, idp.claims("jit", "alice")), authz.RefusedBadSignature},
			{"no expiry", idp.sign(t, with("jit", func(c jwt.MapClaims) { delete(c, "exp") })), authz.RefusedMissingClaim},
			{"no subject", idp.sign(t, with("jit", func(c jwt.MapClaims) { delete(c, "sub") })), authz.RefusedMissingClaim},
			{"unknown user, no just-in-time", idp.sign(t, idp.claims("strict", "nobody")), authz.RefusedUnknownUser},
			{"garbage", "a.b.c", authz.RefusedMalformedToken},
		} {
			t.Run(c.name, func(t *testing.T) {
				got := h.do(t, c.token, `{ viewer { username } }`)
				if c.reason == "" {
					wantData(t, c.name, got, `{"viewer": {"username": "alice"}}`)
					return
				}
				wantRefused(t, c.name, got, c.reason)
			})
		}
	})
}

// TestJWTUnknownKeyRefreshIsRateLimited: a token naming an unknown key id
// fetches the JWKS again once; another right after does not, even when
// the key has meanwhile been published, so that made-up key ids cannot
// make grantql hammer the issuer.
func TestJWTUnknownKeyRefreshIsRateLimited(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		idp := newTestIDP(t)
		h := jwtHarness(t, db, idp)
		wantData(t, "warm-up", h.do(t, idp.sign(t, idp.claims("jit", "alice")), `{ viewer { username } }`), `{"viewer": {"username": "alice"}}`)
		rotated, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		tok := signWith(t, jwt.SigningMethodRS256, "rotated", rotated, idp.claims("jit", "alice"))
		before := idp.jwksHits.Load()
		wantRefused(t, "unknown kid", h.do(t, tok, `{ viewer { username } }`), authz.RefusedUnknownKey)
		if n := idp.jwksHits.Load() - before; n != 1 {
			t.Errorf("an unknown key id fetched the JWKS %d times, want 1", n)
		}
		idp.mu.Lock()
		idp.extraKeys["rotated"] = &rotated.PublicKey
		idp.mu.Unlock()
		before = idp.jwksHits.Load()
		wantRefused(t, "unknown kid again", h.do(t, tok, `{ viewer { username } }`), authz.RefusedUnknownKey)
		if n := idp.jwksHits.Load() - before; n != 0 {
			t.Errorf("a second unknown key id within the rate fetched the JWKS %d times, want 0", n)
		}
	})
}

// TestJWTJustInTime: an unknown subject of an issuer that creates users
// gets an active user, named after preferred_username with what a
// username may not hold replaced, made unique, and never a superuser; the
// same subject is the same user next time.
func TestJWTJustInTime(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		idp := newTestIDP(t)
		h := jwtHarness(t, db, idp)
		ann := idp.claims("jit", "sub-ann")
		ann["preferred_username"] = "Ann Smith"
		ann["is_superuser"] = true
		q := `{ viewer { username isSuperuser } }`
		wantData(t, "first", h.do(t, idp.sign(t, ann), q), `{"viewer": {"username": "Ann_Smith", "isSuperuser": false}}`)
		wantData(t, "again", h.do(t, idp.sign(t, ann), q), `{"viewer": {"username": "Ann_Smith", "isSuperuser": false}}`)
		other := idp.claims("jit", "sub-other-ann")
		other["preferred_username"] = "Ann Smith"
		wantData(t, "same name", h.do(t, idp.sign(t, other), q), `{"viewer": {"username": "Ann_Smith-2", "isSuperuser": false}}`)
		// A claimed name cannot take over an existing user's.
		root := idp.claims("jit", "sub-root")
		root["preferred_username"] = "root"
		wantData(t, "root", h.do(t, idp.sign(t, root), q), `{"viewer": {"username": "root-2", "isSuperuser": false}}`)
		// The same subject at another issuer is another identity.
		wantRefused(t, "strict", h.do(t, idp.sign(t, idp.claims("strict", "sub-ann")), q), authz.RefusedUnknownUser)
	})
}

// TestJWTInactiveUser: a JWT caller whose user was deactivated is refused
// at once, on the next request, with reason inactive_user, also when the
// shared cache held its identity.
func TestJWTInactiveUser(t *testing.T) {
	for _, cached := range []bool{false, true} {
		t.Run(fmt.Sprintf("shared cache %v", cached), func(t *testing.T) {
			dbtest.Run(t, func(t *testing.T, db *models.DB) {
				idp := newTestIDP(t)
				var opts []authz.Option
				if cached {
					cache := authz.NewSharedCache(1000, nil)
					t.Cleanup(cache.Start(context.Background(), models.NewStore(db), time.Hour))
					waitServing(t, cache)
					opts = append(opts, authz.WithSharedCache(cache))
				}
				h := jwtHarness(t, db, idp, opts...)
				tok := idp.sign(t, idp.claims("jit", "bob"))
				var got struct{ Viewer struct{ ID string } }
				res := h.do(t, tok, `{ viewer { id } }`)
				if err := json.Unmarshal(res.Data, &got); err != nil || got.Viewer.ID == "" {
					t.Fatalf("viewer = %v", res)
				}
				// Again, from the shared cache when there is one.
				wantData(t, "again", h.do(t, tok, `{ viewer { id } }`), fmt.Sprintf(`{"viewer": {"id": %q}}`, got.Viewer.ID))
				wantData(t, "deactivate", h.do(t, h.root.Token, `mutation($id: ID!) { updateUser(id: $id, input: {isActive: false}) { isActive } }`, "id", got.Viewer.ID),
					`{"updateUser": {"isActive": false}}`)
				wantRefused(t, "deactivated", h.do(t, tok, `{ viewer { id } }`), authz.RefusedInactiveUser)
			})
		})
	}
}

// TestJWTGroupSync: the groups claim sets the caller's memberships of the
// groups its issuer manages, recorded as grant events, and touches no
// group an admin manages; a repeated claim writes nothing.
func TestJWTGroupSync(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		idp := newTestIDP(t)
		h := jwtHarness(t, db, idp)
		managed := h.mustGroup(t, "managed", authz.PermAddGroup)
		other := h.mustGroup(t, "other-managed")
		admins := h.mustGroup(t, "admins")
		adminOnly := h.mustGroup(t, "admin-only")
		for _, g := range []authz.Group{managed, other} {
			wantData(t, "setGroupIssuer", h.do(t, h.root.Token, `mutation($g: ID!, $i: String) { setGroupIssuer(group: $g, issuer: $i) { id } }`,
				"g", gid(g.ID), "i", idp.issuer("jit")), fmt.Sprintf(`{"setGroupIssuer": {"id": %q}}`, gid(g.ID)))
		}
		carol := idp.claims("jit", "carol")
		carol["groups"] = []string{managed.Name, adminOnly.Name}
		res := h.do(t, idp.sign(t, carol), `{ viewer { id } hasPerm(perm: "auth.add_group") }`)
		var got struct {
			Viewer  struct{ ID string }
			HasPerm bool
		}
		if err := json.Unmarshal(res.Data, &got); err != nil || len(res.Errors) != 0 {
			t.Fatalf("first request = %v", res)
		}
		if !got.HasPerm {
			t.Errorf("hasPerm(auth.add_group) through the synced group = false, want true (the sync is seen by the same request)")
		}
		user, err := strconv.ParseInt(got.Viewer.ID, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		// An admin adds carol to an admin group; the claim must not undo it.
		h.join(t, user, admins.ID)
		want := map[int64]bool{managed.ID: true, other.ID: false, admins.ID: true, adminOnly.ID: false}
		for g, member := range want {
			if h.isMember(t, user, g) != member {
				t.Errorf("member of group %d = %v, want %v", g, !member, member)
			}
		}
		rev, err := h.store.Revision(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		h.do(t, idp.sign(t, carol), `{ viewer { id } }`)
		if again, _ := h.store.Revision(h.ctx); again != rev {
			t.Errorf("the same claim again moved the revision %d -> %d, want no write", rev, again)
		}
		carol["groups"] = []string{other.Name}
		h.do(t, idp.sign(t, carol), `{ viewer { id } }`)
		want = map[int64]bool{managed.ID: false, other.ID: true, admins.ID: true, adminOnly.ID: false}
		for g, member := range want {
			if h.isMember(t, user, g) != member {
				t.Errorf("after the claim changed: member of group %d = %v, want %v", g, !member, member)
			}
		}
		events, err := h.store.GrantEvents(h.ctx, authz.GrantEventFilter{User: &user}, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var adds, removes int
		for _, e := range events {
			switch e.Action {
			case authz.ActionAddUserToGroup:
				adds++
			case authz.ActionRemoveUserFromGroup:
				removes++
			}
		}
		// managed and other added by the claims, admins by an admin;
		// managed removed.
		if adds != 3 || removes != 1 {
			t.Errorf("grant events of carol: %d adds, %d removes; want 3 and 1", adds, removes)
		}
	})
}

// TestJWTStatements: a JWT caller's checks cost what an API token
// caller's do: a cold check one statement (the identity's look-up brings
// the grants the check reads), a warm one, from the shared cache, none.
func TestJWTStatements(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, db *models.DB) {
		idp := newTestIDP(t)
		cache := authz.NewSharedCache(1000, nil)
		t.Cleanup(cache.Start(context.Background(), models.NewStore(db), time.Hour))
		waitServing(t, cache)
		h := jwtHarness(t, db, idp, authz.WithSharedCache(cache))
		p := h.mustProject(t, "p")
		tok := idp.sign(t, idp.claims("jit", "dave"))
		h.do(t, tok, `{ viewer { id } }`) // creates dave
		v := h.mustUser(t, "tokencaller")
		q := fmt.Sprintf(`{ hasProjectPerm(perm: "projects.view_page", project: %q) }`, gid(p.ID))
		for _, caller := range []struct{ name, token string }{{"API token", v.Token}, {"JWT", tok}} {
			// A write retires every cached entry: the next check is cold.
			h.engine.NoteWrite(h.ctx)
			for _, want := range []int64{1, 0} {
				c := &models.StatementCounter{}
				wantData(t, caller.name, h.doWith(t, h.counted(c, caller.token), q), `{"hasProjectPerm": false}`)
				t.Logf("%s: %s caller's check: %d statements", db.Dialect, caller.name, c.Count())
				if c.Count() != want {
					t.Errorf("%s caller's check ran %d statements, want %d", caller.name, c.Count(), want)
				}
			}
		}
	})
}
